"""yt-dlp's command line: the end-of-options check on user parameters and the runner's invariants, checked
with yt-dlp's own parser (no stack needed: these are the functions the API and the runner call)."""
from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest
from yt_dlp.options import create_parser

from common.ytdlp import (ALLOWED_OPTIONS, CommandLineViolation, ParameterError, build_command_line,
                          build_expand_command_line,
                          check_parameters, job_line, verify_command_line, verify_job)

from tests.stack import APP_DIR, PYTHON

UUID = "2b1f6f0e-7f6c-4f47-9d0e-3f4b1c1d2e3f"
URL = "http://127.0.0.1:9/video.mp4"


@pytest.fixture
def paths(tmp_path):
    return tmp_path / "data", tmp_path / "data" / ".partial"


def verify(arguments: list[str], paths) -> None:
    verify_command_line(arguments, UUID, URL, *paths)


def with_runner_bug(extra: list[str], paths) -> list[str]:
    """The runner's command line with options slipped in after its own (where they would win)."""
    arguments = build_command_line(UUID, URL, [], *paths)
    return [*arguments[:-2], *extra, *arguments[-2:]]


@pytest.mark.parametrize("parameters", [
    ["--"], ["-f", "best", "--"], ["--", "-f", "best"], ["-x", "--", "--"], ["--="], ["--=x"],
    ["-f", "best", "--=--exec"], ["--referer", "x", "--"],
])
def test_end_of_options_markers_are_forbidden(parameters):
    with pytest.raises(ParameterError) as refused:
        check_parameters(parameters)
    assert refused.value.code == "forbiddenYtdlpParameter"
    assert "end-of-options" in str(refused.value)


@pytest.mark.parametrize("parameters", [["--referer", "--"], ["--referer=--"], ["--user-agent", "--="],
                                        ["-f", "--"], ["--referer", "a -- b"]])
def test_a_value_that_looks_like_an_end_of_options_is_a_value(parameters, paths):
    assert check_parameters(parameters) == parameters
    verify(build_command_line(UUID, URL, parameters, *paths), paths)


@pytest.mark.parametrize("parameters", [["--prt-end-of-user-options"], ["--prt-e"], ["-x", "--prt"]])
def test_the_parsers_probe_cannot_be_typed(parameters):
    with pytest.raises(ParameterError) as refused:
        check_parameters(parameters)
    assert refused.value.code == "forbiddenYtdlpParameter"


def test_an_option_missing_its_value_is_still_reported_as_such():
    with pytest.raises(ParameterError) as refused:
        check_parameters(["-f", "best", "--referer"])
    assert refused.value.code == "invalidYtdlpParameters" and "--referer" in str(refused.value)


def test_an_ambiguous_abbreviation_gets_a_short_message():
    with pytest.raises(ParameterError) as refused:
        check_parameters(["--e"])
    assert refused.value.code == "invalidYtdlpParameters" and len(str(refused.value)) < 400


def test_the_runners_own_command_line_passes(paths):
    verify(build_command_line(UUID, URL, [], *paths), paths)


SAMPLE_VALUES = {
    "--format": "best", "--format-sort": "res", "--merge-output-format": "mkv", "--max-filesize": "50M",
    "--min-filesize": "1k", "--sub-format": "srt", "--sub-langs": "en", "--convert-subs": "srt",
    "--convert-thumbnails": "jpg", "--audio-format": "mp3", "--audio-quality": "5", "--remux-video": "mkv",
    "--recode-video": "mp4", "--fixup": "warn", "--remove-chapters": "intro", "--sponsorblock-mark": "all",
    "--sponsorblock-remove": "sponsor", "--sponsorblock-chapter-title": "[SB] %(category_names)l",
    "--limit-rate": "1M", "--throttled-rate": "100K", "--retries": "3", "--fragment-retries": "3",
    "--extractor-retries": "3", "--retry-sleep": "2", "--socket-timeout": "10", "--concurrent-fragments": "2",
    "--http-chunk-size": "10M", "--user-agent": "test agent", "--referer": "http://127.0.0.1/",
    "--age-limit": "18",
}


@pytest.mark.parametrize("option", sorted(ALLOWED_OPTIONS))
def test_every_allowed_option_keeps_the_invariants(option, paths):
    takes_value = create_parser().get_option(option).takes_value()
    parameters = [option, SAMPLE_VALUES[option]] if takes_value else [option]
    assert check_parameters(parameters) == parameters
    verify(build_command_line(UUID, URL, parameters, *paths), paths)


@pytest.mark.parametrize("extra,broken", [
    (["-o", "%(title)s.%(ext)s"], "output file names"),
    (["-o", "thumbnail:%(title)s.%(ext)s"], "output file names"),
    (["-P", "/tmp"], "output folders"),
    (["-P", "temp:/tmp"], "output folders"),
    (["--exec", "touch /tmp/pwned"], "post-processors"),
    (["--exec-before-download", "id"], "post-processors"),
    (["--use-postprocessor", "Exec:exec_cmd=id"], "post-processors"),
    (["--split-chapters"], "post-processors"),
    (["--config-locations", "/etc/hostname"], "configuration"),
    (["--cookies", "/etc/hostname"], "cookies file"),
    (["--cookies-from-browser", "chromium"], "cookies from a browser"),
    (["--yes-playlist"], "playlist"),
    (["--plugin-dirs", "/tmp"], "plugins"),
    (["-U"], "update"),
    (["--update-to", "nightly"], "update"),
    (["--downloader", "curl"], "external downloader"),
    (["--ffmpeg-location", "/tmp/evil"], "another ffmpeg"),
    (["--load-info-json", "/tmp/x.json"], "info JSON"),
    (["--proxy", "socks5://127.0.0.1:9050"], "proxy"),
    (["--print-to-file", "title", "/tmp/x"], "--print-to-file"),
    (["http://127.0.0.1:9/other.mp4"], "2 URLs"),
    (["--no-such-option"], "cannot parse"),
    (["--no-write-thumbnail"], "thumbnail is not written as <uuid>.jpg"),
    (["--convert-thumbnails", "png"], "thumbnail is not written as <uuid>.jpg"),
])
def test_each_invariant_is_enforced_on_the_complete_command_line(extra, broken, paths):
    with pytest.raises(CommandLineViolation) as violation:
        verify(with_runner_bug(extra, paths), paths)
    assert broken in str(violation.value)
    assert str(paths[0].parent) not in str(violation.value)  # no path of the server in the message


@pytest.mark.parametrize("parameters", [["--"], ["-f", "best", "--"], ["--", "http://127.0.0.1:9/other.mp4"],
                                        ["--", "--exec", "id"]])
def test_an_end_of_options_that_slipped_through_is_caught(parameters, paths):
    with pytest.raises(CommandLineViolation) as violation:
        verify(build_command_line(UUID, URL, parameters, *paths), paths)
    assert "URLs instead of the download's one" in str(violation.value)


def test_other_url_or_no_url_is_caught(paths):
    arguments = build_command_line(UUID, URL, [], *paths)
    with pytest.raises(CommandLineViolation):
        verify_command_line(arguments, UUID, "http://127.0.0.1:9/else.mp4", *paths)
    with pytest.raises(CommandLineViolation):
        verify(arguments[:-1], paths)


@pytest.mark.parametrize("option,broken", [("--batch-file", "batch file"), ("--config-locations", "configuration")])
def test_files_named_on_the_command_line_are_refused_without_being_read(option, broken, paths, tmp_path):
    """A FIFO blocks whoever opens it: the check must refuse it without opening it."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome = []

    def check():
        try:
            verify(with_runner_bug([option, str(fifo)], paths), paths)
        except CommandLineViolation as violation:
            outcome.append(str(violation))

    thread = threading.Thread(target=check, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # release it before failing
        with open(fifo, "w"):
            pass
    assert outcome and broken in outcome[0]


def test_the_native_downloader_is_not_an_external_one(paths):
    verify(with_runner_bug(["--downloader", "native"], paths), paths)


def test_a_playlist_passes_only_when_the_service_asks_for_one(paths):
    arguments = with_runner_bug(["--yes-playlist"], paths)
    verify_command_line(arguments, UUID, URL, *paths, playlist=True)


def test_the_downloads_own_cookies_copy_passes_and_nothing_else_does(paths, tmp_path):
    own = tmp_path / "cookies" / ".in-use" / f"{UUID}.txt"
    arguments = build_command_line(UUID, URL, [], *paths, cookies_file=own)
    assert arguments[arguments.index("--cookies") + 1] == str(own) and "--no-cookies" not in arguments
    verify_command_line(arguments, UUID, URL, *paths, cookies_file=own)
    with pytest.raises(CommandLineViolation, match="cookies file"):  # no cookies expected for this download
        verify(arguments, paths)
    for other in (tmp_path / "cookies" / "profile.txt", tmp_path / "cookies" / ".in-use" / "other-uuid.txt"):
        with pytest.raises(CommandLineViolation, match="cookies file"):
            verify_command_line(build_command_line(UUID, URL, [], *paths, cookies_file=other), UUID, URL, *paths,
                                cookies_file=own)
    slipped = [*arguments[:-2], "--cookies", "/etc/hostname", *arguments[-2:]]  # a second --cookies wins
    with pytest.raises(CommandLineViolation, match="cookies file"):
        verify_command_line(slipped, UUID, URL, *paths, cookies_file=own)
    with pytest.raises(CommandLineViolation, match="cookies from a browser"):
        verify_command_line([*arguments[:-2], "--cookies-from-browser", "chromium", *arguments[-2:]], UUID, URL,
                            *paths, cookies_file=own)


def test_the_playlist_listing_keeps_every_other_invariant_and_lists_only(paths):
    """The runner's listing of a playlist (issue 19): flat, one JSON document, at most N entries, nothing
    downloaded; allowed only as a playlist, and everything else is checked as for a download."""
    from yt_dlp import parse_options

    arguments = build_expand_command_line(UUID, URL, 7, *paths)
    verify_command_line(arguments, UUID, URL, *paths, playlist=True)
    with pytest.raises(CommandLineViolation, match="playlist"):
        verify(arguments, paths)
    options = parse_options(arguments).ydl_opts
    assert options["extract_flat"] and options["dump_single_json"] and options["simulate"]
    assert options["playlistend"] == 7 and not options.get("noplaylist")
    assert parse_options(arguments).urls == [URL]


def test_the_yt_dlp_process_runs_a_job_line_only_once_its_command_line_passes(paths):
    """The runner hands each yt-dlp process a job line; that process verifies it with its own yt-dlp."""
    arguments = build_command_line(UUID, URL, [], *paths)
    verified, parsed = verify_job(job_line(arguments, UUID, URL, *paths))
    assert verified == arguments and parsed.urls == [URL] and parsed.ydl_opts["noplaylist"]
    with pytest.raises(CommandLineViolation):  # the job says "no playlist", the command line asks for one
        verify_job(job_line(with_runner_bug(["--yes-playlist"], paths), UUID, URL, *paths))
    with pytest.raises(CommandLineViolation):  # expected another download's URL
        verify_job(job_line(arguments, UUID, "http://127.0.0.1:9/other.mp4", *paths))


@pytest.mark.parametrize("line", [
    '["--ignore-config", "http://127.0.0.1:9/video.mp4"]',  # a bare argument list: the old protocol
    '{"arguments": ["--ignore-config"]}', '{"expected": {}}', "not json", "null",
    '{"arguments": [1, 2], "expected": {"uuid": "u", "video_url": "v", "data_path": "/", "partial_path": "/", '
    '"playlist": false, "cookies_file": null}}',
])
def test_a_line_that_is_not_a_complete_job_runs_nothing(line):
    with pytest.raises(CommandLineViolation):
        verify_job(line)


def test_every_preset_passes_the_allowlist_users_options_pass():
    from services.api.presets import PRESETS

    for preset in PRESETS:
        assert check_parameters(list(preset.ytdlpCLIParameters)) == list(preset.ytdlpCLIParameters), preset.id


def test_yt_dlps_main_runs_the_very_options_that_were_checked(media, tmp_path):
    """The yt-dlp process hands yt-dlp's main the parse verify_job checked (services.runner.warm_ytdlp, issue 20:
    one parse instead of two): a change made to that parse object shows in what main does, and main parses
    again for any other arguments. Run in a child process: yt-dlp's main renames the process it runs in."""
    script = """
import json, sys
from pathlib import Path
from common.ytdlp import build_command_line, job_line, verify_job
from services.runner.warm_ytdlp import run_ytdlp
data = Path(sys.argv[1]); uuid = "2b1f6f0e-7f6c-4f47-9d0e-3f4b1c1d2e3f"
arguments = build_command_line(uuid, sys.argv[2], [], data, data / ".partial")
verified, parsed = verify_job(job_line(arguments, uuid, sys.argv[2], data, data / ".partial"))
parsed.ydl_opts["simulate"] = True  # marks this parse: main must not download with it
print(json.dumps({"marked": run_ytdlp(arguments, parsed=parsed), "files": sorted(p.name for p in data.glob("*.mp4")),
                  "other": run_ytdlp(arguments, parsed=None),
                  "after": sorted(p.name for p in data.glob("*.mp4"))}), file=sys.stderr)
"""
    data = tmp_path / "data"
    (data / ".partial").mkdir(parents=True)
    result = subprocess.run([str(PYTHON), "-c", script, str(data), f"{media.url}/clip.mp4"], cwd=APP_DIR,
                            capture_output=True, text=True, timeout=120)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["marked"] == 0 and report["files"] == [], "main ran with the parse it was handed"
    assert report["other"] == 0 and report["after"] == ["2b1f6f0e-7f6c-4f47-9d0e-3f4b1c1d2e3f.mp4"], \
        "without a handed parse, main parses its arguments itself"
