"""yt-dlp's command line: the reviewed allowlist of user options and the arguments the runner always adds.

User options are parsed by yt-dlp's own option parser, so abbreviations (`--exec-befo`), `--opt=value`,
grouped short flags and aliases are seen exactly as yt-dlp would see them; only allowlisted options pass.
"""
from __future__ import annotations

import json
import optparse
import shlex
import threading
from pathlib import Path

# Reviewed: none of these runs a command, reads or writes a path of the user's choosing, loads config,
# plugins, cookies or credentials, reaches a host other than the video's, or names files from metadata.
ALLOWED_OPTIONS: dict[str, str] = {
    # format selection and sorting
    "--format": "format selection (-f)",
    "--format-sort": "format sorting (-S)",
    "--format-sort-reset": "",
    "--format-sort-force": "",
    "--no-format-sort-force": "",
    "--video-multistreams": "",
    "--no-video-multistreams": "",
    "--audio-multistreams": "",
    "--no-audio-multistreams": "",
    "--prefer-free-formats": "",
    "--no-prefer-free-formats": "",
    "--check-formats": "",
    "--check-all-formats": "",
    "--no-check-formats": "",
    "--merge-output-format": "container of merged formats",
    "--max-filesize": "",
    "--min-filesize": "",
    # subtitles
    "--write-subs": "",
    "--no-write-subs": "",
    "--write-auto-subs": "",
    "--no-write-auto-subs": "",
    "--all-subs": "",
    "--sub-format": "",
    "--sub-langs": "",
    "--convert-subs": "",
    # thumbnails and embedding
    "--write-thumbnail": "",
    "--no-write-thumbnail": "",
    "--convert-thumbnails": "",
    "--embed-subs": "",
    "--no-embed-subs": "",
    "--embed-thumbnail": "",
    "--no-embed-thumbnail": "",
    "--embed-metadata": "",
    "--no-embed-metadata": "",
    "--embed-chapters": "",
    "--no-embed-chapters": "",
    # post-processing with fixed ffmpeg arguments
    "--extract-audio": "",
    "--audio-format": "",
    "--audio-quality": "",
    "--remux-video": "",
    "--recode-video": "",
    "--keep-video": "",
    "--no-keep-video": "",
    "--fixup": "",
    "--remove-chapters": "",
    "--no-remove-chapters": "",
    "--force-keyframes-at-cuts": "",
    "--no-force-keyframes-at-cuts": "",
    # SponsorBlock (its public API only: --sponsorblock-api is not allowed)
    "--sponsorblock-mark": "",
    "--sponsorblock-remove": "",
    "--sponsorblock-chapter-title": "",
    "--no-sponsorblock": "",
    # network behaviour towards the video's own host
    "--limit-rate": "",
    "--throttled-rate": "",
    "--retries": "",
    "--fragment-retries": "",
    "--extractor-retries": "",
    "--retry-sleep": "",
    "--socket-timeout": "",
    "--concurrent-fragments": "",
    "--http-chunk-size": "",
    "--skip-unavailable-fragments": "",
    "--abort-on-unavailable-fragments": "",
    "--hls-use-mpegts": "",
    "--no-hls-use-mpegts": "",
    "--force-ipv4": "",
    "--force-ipv6": "",
    "--user-agent": "",
    "--referer": "",
    "--age-limit": "",
    "--no-warnings": "",
}


class ParameterError(ValueError):
    """A user parameter string that cannot be used; `code` is the API's errorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class _RaisingParser:
    """Makes optparse report errors as exceptions instead of printing usage and exiting."""

    @staticmethod
    def error(message: str):
        raise ParameterError("invalidYtdlpParameters", f"yt-dlp cannot parse the parameters: {message}")


def split_parameters(raw: str | list[str] | None) -> list[str]:
    """The user's parameters as an argument list: a command-line string (shlex) or a JSON array of strings."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return list(raw)
    text = raw.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    try:
        return shlex.split(text)
    except ValueError as error:
        raise ParameterError("invalidYtdlpParameters", f"cannot split the parameters: {error}") from None


class _AllowlistParser(threading.local):
    """yt-dlp's own option parser, built once per thread, whose options refuse to be used unless allowlisted.

    Building the parser costs ~5 ms (some 330 options); reusing it is safe because a refused option raises
    before its action runs, so nothing (not even --alias) can change the parser."""

    def __init__(self):
        from yt_dlp.options import create_parser

        self.parser = create_parser()
        self.parser.error = _RaisingParser.error
        for option in self.parser._get_all_options():
            option.process = self._guarded(option)

    @staticmethod
    def _guarded(option):
        original = option.process
        canonical = option.get_opt_string()

        def process(opt, value, values, parser):
            if canonical not in ALLOWED_OPTIONS:
                raise ParameterError(
                    "forbiddenYtdlpParameter",
                    f"yt-dlp option {opt!r} ({canonical}) is not allowed on this service"
                    if opt != canonical else f"yt-dlp option {canonical} is not allowed on this service")
            return original(opt, value, values, parser)

        return process


_allowlist_parser = _AllowlistParser()


def check_parameters(arguments: list[str]) -> list[str]:
    """Returns the arguments unchanged when yt-dlp's parser finds only allowlisted options in them."""
    if not arguments:
        return []
    if any("\x00" in argument for argument in arguments):
        raise ParameterError("invalidYtdlpParameters", "parameters may not contain NUL characters")
    try:
        _, positional = _allowlist_parser.parser.parse_args(list(arguments))
    except ParameterError:
        raise
    except (optparse.OptParseError, SystemExit, Exception) as error:
        raise ParameterError("invalidYtdlpParameters", f"yt-dlp cannot parse the parameters: {error}") from None
    if positional:
        raise ParameterError(
            "forbiddenYtdlpParameter",
            f"extra arguments are not allowed (only options; the URL goes in videoURL): {positional[0]!r}")
    return list(arguments)


PROGRESS_MARKER = "PRT-PROGRESS "
FILE_MARKER = "PRT-FILE "
DONE_MARKER = "PRT-DONE "  # printed by the warm process after yt-dlp's main, with its exit code
PROBE_MARKER = "PRT-PROBE "  # the warm process's media check of the reported file
DEFAULT_FORMAT = ["--format", "bv*+ba/b", "--merge-output-format", "mp4"]


def build_command_line(uuid: str, video_url: str, user_arguments: list[str], data_path: Path,
                       partial_path: Path) -> list[str]:
    """yt-dlp's arguments: defaults the user may override, the user's options, then mandatory ones last."""
    mandatory = [
        "--ignore-config", "--no-update", "--no-playlist", "--newline", "--color", "never",
        "--no-mtime", "--no-exec", "--no-batch-file", "--no-cookies", "--no-write-info-json",
        "--progress", "--progress-template", f"download:{PROGRESS_MARKER}%(progress)j",
        "--print", f"after_move:{FILE_MARKER}%(filepath)j",
        "--paths", f"home:{data_path}", "--paths", f"temp:{partial_path}",
        "--output", f"{uuid}.%(ext)s", "--output", f"thumbnail:{uuid}.%(ext)s",
        "--output", f"subtitle:{uuid}.%(ext)s",
    ]
    return [*DEFAULT_FORMAT, *user_arguments, *mandatory, "--", video_url]
