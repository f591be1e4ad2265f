"""yt-dlp's command line: the reviewed allowlist of user options and the arguments the runner always adds.

User options are parsed by yt-dlp's own option parser, so abbreviations (`--exec-befo`), `--opt=value`,
grouped short flags and aliases are seen exactly as yt-dlp would see them; only allowlisted options pass.
The runner then parses the complete command line it built, again with yt-dlp's own parser, and checks the
invariants the service relies on before any yt-dlp process sees it (verify_command_line).
"""
from __future__ import annotations

import json
import optparse
import shlex
from pathlib import Path
from typing import Any

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
        if len(message) > 300:  # an ambiguous abbreviation lists every option it could be
            message = message[:300] + "…"
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


END_PROBE = "--prt-end-of-user-options"


class _AllowlistParser:
    """yt-dlp's own option parser whose options refuse to be used unless allowlisted.

    Building the parser costs ~5 ms (some 330 options), so parsers are kept in a pool (one per concurrent
    parse: a thread or a greenlet, as the API runs on gevent) and built only when first needed, which also
    keeps yt-dlp out of the processes that import this module without checking parameters. Reusing a parser is
    safe because a refused option raises before its action runs, so nothing (not even --alias) can change it.

    It has one extra option, END_PROBE, appended after the user's arguments: the parser reads it as an option
    only if nothing before it ended option parsing (optparse swallows a `--` silently, and every argument after
    it becomes positional), so the parser itself tells whether the user's arguments contain an end of options.
    """

    def __init__(self):
        from yt_dlp.options import create_parser

        self.parser = create_parser()
        self.parser.error = _RaisingParser.error
        for option in self.parser._get_all_options():
            option.process = self._guarded(option)
        probe = self.parser.add_option(END_PROBE, action="store_true", dest="prt_end_probe", default=False,
                                       help=optparse.SUPPRESS_HELP)
        probe.process = self._probe(probe)
        self.parser._match_long_opt = self._no_empty_name(self.parser._match_long_opt)

    @staticmethod
    def _no_empty_name(match_long_opt):
        def match(opt: str) -> str:
            if opt == "--":  # `--=value`: an option without a name, next door to the end of options
                raise ParameterError("forbiddenYtdlpParameter",
                                     "an end-of-options marker ('--') is not allowed, also not as '--='")
            return match_long_opt(opt)

        return match

    @staticmethod
    def _probe(option):
        original = option.process

        def process(opt, value, values, parser):
            if opt != END_PROBE or parser.rargs:  # typed by the user (it is not on yt-dlp's command line)
                raise ParameterError("forbiddenYtdlpParameter", f"yt-dlp option {opt!r} does not exist here")
            return original(opt, value, values, parser)

        return process

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


_idle_parsers: list[_AllowlistParser] = []  # list.pop and list.append are atomic: no lock needed


def load_parameter_parser() -> None:
    """Builds a first parser now (imports yt-dlp), so that the first request with parameters does not wait."""
    _idle_parsers.append(_AllowlistParser())


def check_parameters(arguments: list[str]) -> list[str]:
    """Returns the arguments unchanged when yt-dlp's parser finds only allowlisted options in them."""
    if not arguments:
        return []
    if any("\x00" in argument for argument in arguments):
        raise ParameterError("invalidYtdlpParameters", "parameters may not contain NUL characters")
    values, positional = _parse_user_arguments([*arguments, END_PROBE])
    if positional and positional[-1] == END_PROBE and not values.prt_end_probe:
        raise ParameterError(
            "forbiddenYtdlpParameter",
            "an end-of-options marker ('--') is not allowed: it would turn the service's own options into URLs")
    if positional:
        raise ParameterError(
            "forbiddenYtdlpParameter",
            f"extra arguments are not allowed (only options; the URL goes in videoURL): {positional[0]!r}")
    if not values.prt_end_probe:  # the last option took the probe as its value: it has none of its own
        _parse_user_arguments(list(arguments))
        raise ParameterError("invalidYtdlpParameters", "the last option needs a value")
    return list(arguments)


def _parse_user_arguments(arguments: list[str]):
    try:
        parser = _idle_parsers.pop()
    except IndexError:
        parser = _AllowlistParser()
    try:
        return parser.parser.parse_args(arguments)
    except ParameterError:
        raise
    except (optparse.OptParseError, SystemExit, Exception) as error:
        raise ParameterError("invalidYtdlpParameters", f"yt-dlp cannot parse the parameters: {error}") from None
    finally:
        _idle_parsers.append(parser)


PARAMETER_CHECK_SOCKET = "ytdlp-parameters.sock"  # under RUNPATH: the runner's zygote answers check requests
MAX_CHECK_REQUEST_BYTES = 200 * 1024  # one datagram (the API takes bodies of 64 KiB at most)


def answer_check(request: bytes) -> bytes:
    """The answer to one check request (a JSON array of strings), as the zygote sends it to the API:
    {"ok": true}, {"errorCode", "errorMessage"} for parameters check_parameters refuses, or {"unanswered": why}
    when it could not check (the API then checks itself)."""
    try:
        arguments = json.loads(request)
    except ValueError:
        arguments = None
    if not isinstance(arguments, list) or not all(isinstance(argument, str) for argument in arguments):
        return json.dumps({"unanswered": "the request is not a JSON array of strings"}).encode()
    try:
        check_parameters(arguments)
    except ParameterError as error:
        return json.dumps({"errorCode": error.code, "errorMessage": str(error)}).encode()
    except Exception as error:  # a bug here must not take the zygote down: the API checks itself
        return json.dumps({"unanswered": f"{type(error).__name__}: {error}"[:300]}).encode()
    return b'{"ok": true}'


PROGRESS_MARKER = "PRT-PROGRESS "
FILE_MARKER = "PRT-FILE "
DONE_MARKER = "PRT-DONE "  # printed by the warm process after yt-dlp's main, with its exit code
REFUSED_MARKER = "PRT-REFUSED "  # the warm process refused the job's command line (verify_job); yt-dlp did not run
REFUSED_EXIT_CODE = 2
PROBE_MARKER = "PRT-PROBE "  # the warm process's media check of the reported file
FAILURE_MARKER = "PRT-FAILURE "  # the warm process's class of yt-dlp's last error (services/runner/ytdlp_failures)
INFO_MARKER = "PRT-INFO "  # what yt-dlp learnt about the video, printed once the file is in place
INFO_FIELDS = "title,duration,uploader,extractor,webpage_url,thumbnails.:.filepath"
THUMBNAIL_EXTENSION = "jpg"
DEFAULT_FORMAT = ["--format", "bv*+ba/b", "--merge-output-format", "mp4"]


def build_command_line(uuid: str, video_url: str, user_arguments: list[str], data_path: Path,
                       partial_path: Path, cookies_file: Path | None = None) -> list[str]:
    """yt-dlp's arguments: defaults the user may override, the user's options, then mandatory ones last.
    cookies_file: the download's own copy of its cookie profile (common.cookies.in_use_path)."""
    cookies = ["--cookies", str(cookies_file)] if cookies_file is not None else ["--no-cookies"]
    mandatory = [
        "--ignore-config", "--no-update", "--no-playlist", "--no-plugin-dirs", "--newline", "--color", "never",
        "--no-mtime", "--no-exec", "--no-batch-file", *cookies, "--no-write-info-json",
        "--progress", "--progress-template", f"download:{PROGRESS_MARKER}%(progress)j",
        "--print", f"after_move:{FILE_MARKER}%(filepath)j",
        "--print", f"after_move:{INFO_MARKER}%(.{{{INFO_FIELDS}}})j",
        "--write-thumbnail", "--convert-thumbnails", THUMBNAIL_EXTENSION,
        "--paths", f"home:{data_path}", "--paths", f"temp:{partial_path}",
        *(argument for kind, template in _output_templates(uuid).items()
          for argument in ("--output", template if kind == "default" else f"{kind}:{template}")),
    ]
    return [*DEFAULT_FORMAT, *user_arguments, *mandatory, "--", video_url]


def build_expand_command_line(uuid: str, video_url: str, max_items: int, data_path: Path,
                              partial_path: Path) -> list[str]:
    """yt-dlp's arguments that list a playlist's first max_items entries as one JSON document on stdout
    (flat extraction: the entries are not resolved, nothing is downloaded); verify with playlist=True."""
    arguments = build_command_line(uuid, video_url, [], data_path, partial_path)
    arguments[arguments.index("--no-playlist")] = "--yes-playlist"
    end = arguments.index("--")
    return [*arguments[:end], "--flat-playlist", "--dump-single-json", "--playlist-end", str(max_items),
            *arguments[end:]]


def _output_templates(uuid: str) -> dict[str, str]:
    return {"default": f"{uuid}.%(ext)s", "thumbnail": f"{uuid}.%(ext)s", "subtitle": f"{uuid}.%(ext)s"}


class CommandLineViolation(ValueError):
    """A command line that breaks one of the service's invariants; the message names no path of the server."""


# What the allowlisted options may add; Exec (--exec), MetadataParser, FFmpegSplitChapters... are not here.
ALLOWED_POSTPROCESSORS = frozenset({
    "SponsorBlock", "FFmpegSubtitlesConvertor", "FFmpegThumbnailsConvertor", "FFmpegExtractAudio",
    "FFmpegVideoRemuxer", "FFmpegVideoConvertor", "FFmpegEmbedSubtitle", "ModifyChapters", "FFmpegMetadata",
    "EmbedThumbnail", "FFmpegConcat",
})
# yt-dlp's options for each of which only "not given" is acceptable
ABSENT_OPTIONS = {
    "cookiefile": "a cookies file", "cookiesfrombrowser": "cookies from a browser",
    "download_archive": "a download archive",
    "print_to_file": "--print-to-file", "netrc_cmd": "a netrc command", "ffmpeg_location": "another ffmpeg",
    "enable_file_urls": "file:// URLs", "proxy": "a proxy", "writeinfojson": "info JSON files",
    "load_info_filename": "an info JSON as input",
}


def verify_command_line(arguments: list[str], uuid: str, video_url: str, data_path: Path, partial_path: Path,
                        playlist: bool = False, cookies_file: Path | None = None) -> Any:
    """Parses the complete command line with yt-dlp's own parser, as the yt-dlp process would, and raises
    CommandLineViolation unless it downloads exactly video_url, into the service's own paths and names, with
    no command, config, batch file, plugins, update, (unless asked) playlist, and no cookies but exactly
    cookies_file when one is given (the download's own copy of its cookie profile). Returns what it checked:
    yt_dlp.parse_options's result, only read here (the yt-dlp process runs yt-dlp's main with it).

    The defence behind check_parameters: a hole in that check, or a row stored before it existed, still
    cannot change what yt-dlp does with the service's options."""
    import yt_dlp
    from yt_dlp.options import create_parser

    try:  # first without yt-dlp's extras, which read files: config locations, the batch file (even stdin)
        options, urls = _strict(create_parser()).parse_args(list(arguments))
    except Exception as error:
        raise CommandLineViolation(f"yt-dlp cannot parse the command line ({type(error).__name__})") from None
    _check_urls(urls, video_url)
    if options.config_locations or not options.ignoreconfig:
        raise CommandLineViolation("it would load yt-dlp configuration files")
    if options.batchfile is not None:
        raise CommandLineViolation("it would read URLs from a batch file")
    try:
        parsed = yt_dlp.parse_options(list(arguments))
    except BaseException as error:  # parse errors end in SystemExit or OptParseError
        if isinstance(error, KeyboardInterrupt):
            raise
        raise CommandLineViolation(f"yt-dlp cannot parse the command line ({type(error).__name__})") from None
    options, ydl = parsed.options, parsed.ydl_opts
    _check_urls(parsed.urls, video_url)
    written = {kind: template for kind, template in ydl.get("outtmpl", {}).items() if template}  # "" writes nothing
    if written != _output_templates(uuid):
        raise CommandLineViolation("its output file names are not the service's")
    if ydl.get("paths") != {"home": str(data_path), "temp": str(partial_path)}:
        raise CommandLineViolation("its output folders are not the service's")
    unexpected = [pp["key"] for pp in ydl.get("postprocessors", []) if pp.get("key") not in ALLOWED_POSTPROCESSORS]
    if unexpected or options.exec_cmd or options.exec_before_dl_cmd:
        raise CommandLineViolation(f"it would run post-processors the service does not allow "
                                   f"({', '.join(unexpected) or 'Exec'})")
    own_cookies = cookies_file is not None and ydl.get("cookiefile") == options.cookiefile == str(cookies_file)
    given = [what for key, what in ABSENT_OPTIONS.items()
             if (ydl.get(key) or getattr(options, key, None)) and not (key == "cookiefile" and own_cookies)]
    if any(name != "native" for name in (ydl.get("external_downloader") or {}).values()):
        given.append("an external downloader")
    if given:
        raise CommandLineViolation(f"it asks for what the service never gives yt-dlp: {', '.join(given)}")
    if not playlist and not ydl.get("noplaylist"):
        raise CommandLineViolation("it would download a playlist")
    if options.plugin_dirs:
        raise CommandLineViolation("it would load yt-dlp plugins")
    if options.update_self:
        raise CommandLineViolation("it would update yt-dlp")
    if not ydl.get("writethumbnail") or options.convertthumbnails != THUMBNAIL_EXTENSION:
        raise CommandLineViolation(f"its thumbnail is not written as <uuid>.{THUMBNAIL_EXTENSION}")
    return parsed


def _check_urls(urls: list[str], video_url: str) -> None:
    if [url.strip() for url in urls] != [video_url.strip()]:  # yt-dlp strips the URLs it is given
        raise CommandLineViolation(
            f"yt-dlp would see {len(urls)} URLs instead of the download's one"
            + (" (an end-of-options marker '--' among the parameters?)" if len(urls) > 1 else ""))


def _strict(parser):
    def error(message):
        raise optparse.OptParseError(message)

    parser.error = error
    return parser


def job_line(arguments: list[str], uuid: str, video_url: str, data_path: Path, partial_path: Path,
             playlist: bool = False, cookies_file: Path | None = None) -> str:
    """The one line a yt-dlp process reads on stdin: the command line, and what verify_command_line must find
    in it (checked in that process, by the yt-dlp that will run it, before it runs)."""
    return json.dumps({"arguments": list(arguments), "expected": {
        "uuid": uuid, "video_url": video_url, "data_path": str(data_path), "partial_path": str(partial_path),
        "playlist": playlist, "cookies_file": str(cookies_file) if cookies_file is not None else None}}) + "\n"


def verify_job(line: str) -> tuple[list[str], Any]:
    """The arguments of a job_line and yt-dlp's parse of them once verify_command_line accepts them;
    CommandLineViolation otherwise (also for a line that is not a complete job: nothing runs unchecked)."""
    try:
        job = json.loads(line)
        arguments, expected = job["arguments"], job["expected"]
        if not (isinstance(arguments, list) and all(isinstance(argument, str) for argument in arguments)):
            raise TypeError("arguments")
        cookies_file = expected["cookies_file"]
        checks = (str(expected["uuid"]), str(expected["video_url"]), Path(expected["data_path"]),
                  Path(expected["partial_path"]))
        playlist = expected["playlist"] is True
        cookies = Path(cookies_file) if cookies_file is not None else None
    except (ValueError, KeyError, TypeError) as error:
        raise CommandLineViolation(f"the job is not a complete job line ({type(error).__name__})") from None
    return arguments, verify_command_line(arguments, *checks, playlist=playlist, cookies_file=cookies)
