"""From initiateDownload to a finished file, with the real yt-dlp against the tests' loopback media server."""
from __future__ import annotations

import json
import sqlite3
import uuid as uuidlib
from datetime import datetime, timezone

import pytest

from tests.media import ffprobe_streams
from tests.stack import APP_DIR, Stack, wait_for, ytdlp_processes


def leftover_files(stack: Stack, uuid: str) -> list[str]:
    return sorted(p.name for folder in (stack.data, stack.data / ".partial") for p in folder.glob(f"{uuid}*"))


def test_direct_mp4_completes_with_a_playable_file_named_by_uuid(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    path = stack.data / f"{uuid}.mp4"
    assert item["fileName"] == path.name and path.is_file()
    assert item["downloadSizeInBytes"] == path.stat().st_size
    assert item["progress"] == 100
    assert set(ffprobe_streams(path)) == {"video", "audio"}
    assert leftover_files(stack, uuid) == [path.name]
    assert f"download={uuid} yt-dlp exited returncode=0" in stack.logs()


def test_uuid_is_listed_the_instant_initiate_returns(stack, media):
    for _ in range(5):
        uuid = stack.start_download(f"{media.url}/clip.mp4")
        assert stack.download(uuid)["downloadStatus"] in ("PENDING", "DOWNLOADING", "COMPLETED")


def test_hls_stream_completes_as_one_file(stack, media):
    uuid = stack.start_download(f"{media.url}/hls/index.m3u8")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    files = leftover_files(stack, uuid)
    assert len(files) == 1 and "video" in ffprobe_streams(stack.data / files[0])


def test_throttled_download_reports_increasing_progress(stack, media):
    uuid = stack.start_download(f"{media.url}/slow/long.mp4")
    seen = []

    def sample():
        item = stack.download(uuid)
        if item["downloadStatus"] == "DOWNLOADING" and item.get("progress") is not None:
            if not seen or seen[-1] != item["progress"]:
                seen.append(item["progress"])
        return item["downloadStatus"] in ("COMPLETED", "FAILED")

    wait_for(sample, timeout=90, interval=0.2, message="the throttled download")
    assert stack.download(uuid)["downloadStatus"] == "COMPLETED"
    assert len(seen) >= 3, seen
    assert seen == sorted(seen) and 0 <= seen[0] < seen[-1] <= 100, seen


@pytest.mark.parametrize("path,code,expected", [
    ("/missing.mp4", "videoNotFound", "404"),
    ("/page.html", "unsupportedURL", "Unsupported URL"),
    ("/notes.txt", "notMedia", "not serve a video"),
])
def test_urls_without_video_fail_with_a_message_and_leave_no_file(stack, media, path, code, expected):
    uuid = stack.start_download(f"{media.url}{path}")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "FAILED", item
    assert item["errorCode"] == code and expected in item["errorDetail"], item
    assert leftover_files(stack, uuid) == []
    failed = stack.public_url(uuid)
    assert failed.status_code == 418 and failed.json()["errorCode"] == "downloadFailed"


def test_queue_respects_the_concurrency_limit_and_submission_order(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="2") as stack:
        media.reset_counters()
        urls = [f"{media.url}/slow/clip.mp4?n={n}" for n in range(10)]
        uuids = [stack.start_download(url) for url in urls]
        most_downloading = 0

        def all_done():
            nonlocal most_downloading
            items = [item for item in stack.downloads() if item["downloadUUID"] in uuids]
            most_downloading = max(most_downloading, sum(i["downloadStatus"] == "DOWNLOADING" for i in items))
            return all(i["downloadStatus"] == "COMPLETED" for i in items) and len(items) == 10

        wait_for(all_done, timeout=120, interval=0.1, message="ten downloads")
        assert media.max_active <= 2, media.max_active  # concurrent transfers seen by the server
        assert most_downloading <= 2
        dispatched = [line.split("download=")[1].split()[0] for line in stack.logs().splitlines()
                      if line.startswith("scheduler: ") and " dispatched " in line]
        assert dispatched == uuids  # started in submission order
        # two start at once, so the server may see neighbours swapped, never more
        order = [int(path.rsplit("=", 1)[1]) for path in media.transfer_order]
        assert sorted(order) == list(range(10)) and all(abs(n - i) <= 1 for i, n in enumerate(order)), order


HOSTILE_PARAMETERS = [
    "--exec 'touch /tmp/pwned'", "--exec=id", "--exec-befo 'id'", "--exec-before-download id",
    "-o /etc/cron.d/x", "--output=/tmp/x", "-P /tmp", "--paths temp:/tmp", "-ob /tmp/x",
    "--config-locations /etc/passwd", "--config-loc=/etc", "--plugin-dirs /tmp", "--cookies /etc/passwd",
    "--cookies-from-browser chrome", "-a /etc/passwd", "--batch-file=/etc/passwd", "--load-info-json /x",
    "--alias pwn '--exec id'", "--ffmpeg-location /tmp/evil", "--postprocessor-args 'ffmpeg:-i /etc/passwd'",
    "--downloader curl", "--downloader-args 'aria2c:--on-download-complete=id'", "-U", "--update-to nightly",
    "--enable-file-urls", "--netrc-cmd 'id'", "--print-to-file title /tmp/x", "--write-info-json",
    "--use-postprocessor 'Exec:exec_cmd=id'", "https://example.com/other-video",
    "-- https://example.com/extra", "--proxy socks5://127.0.0.1:9050", "--sponsorblock-api http://169.254.169.254",
    "--split-chapters", "--parse-metadata 'title:%(ext)s'", "-f best --no-such-option", "'unbalanced",
    '["--exec", "id"]',
]
# yt-dlp's parser swallows `--`: the runner's own options after it would become URLs
END_OF_OPTIONS = ["--", "-f best --", '["--"]', ["--"], ["-f", "best", "--"], "-- -f best", "-x -- --",
                  "--=", "--=x", ["--=--exec"], "--referer x --"]
HOSTILE_URLS = [
    "file:///etc/passwd", "ftp://example.com/video.mp4", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/video.mp4", "javascript:alert(1)", "http:///nohost", "not a url",
    "http://exa mple.com/x.mp4", "http://no-such-host.invalid/video.mp4", "",
]


def test_hostile_parameters_and_urls_are_refused_without_side_effects(stack, media):
    rows = stack.row_count()
    media.reset_counters()
    runner_log_before = stack.logs().count("dispatched")
    for parameters in HOSTILE_PARAMETERS:
        response = stack.initiate(f"{media.url}/clip.mp4", parameters)
        assert response.status_code == 418, (parameters, response.text)
        assert response.json()["errorCode"] in ("forbiddenYtdlpParameter", "invalidYtdlpParameters"), parameters
    for url in HOSTILE_URLS:
        response = stack.initiate(url)
        assert response.status_code == 418, (url, response.text)
        assert response.json()["errorCode"] in ("invalidVideoURL", "invalidParameters"), (url, response.json())
    assert len(HOSTILE_PARAMETERS) + len(HOSTILE_URLS) >= 30
    assert stack.row_count() == rows
    assert media.requests == []
    assert stack.logs().count("dispatched") == runner_log_before


def test_end_of_options_markers_are_refused_and_change_nothing(stack, media):
    rows = stack.row_count()
    media.reset_counters()
    for parameters in END_OF_OPTIONS:
        response = stack.initiate(f"{media.url}/clip.mp4", parameters)
        assert response.status_code == 418, (parameters, response.text)
        assert response.json()["errorCode"] == "forbiddenYtdlpParameter", (parameters, response.json())
    assert stack.row_count() == rows
    assert media.requests == []


def test_a_double_dash_as_an_options_value_is_only_a_value(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4", "--referer --")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED" and item["fileName"] == f"{uuid}.mp4", item


def files_in(folder) -> set[str]:
    return {path.name for path in folder.iterdir() if path.is_file()} if folder.exists() else set()


def test_stored_parameters_that_break_the_command_line_fail_before_ytdlp_runs(stack, media):
    """Rows written straight into SQLite (as an older row, or a hole in the API's check): the runner parses
    its complete command line with yt-dlp's parser and fails the download without running yt-dlp."""
    checkout, data = files_in(APP_DIR), files_in(stack.data)
    media.reset_counters()
    hostile = {str(uuidlib.uuid4()): parameters for parameters in (["--"], ["-f", "best", "--"],
                                                                    ["--", "--exec", "touch pwned"])}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    stack.ctl("stop", "dbwriter")
    try:
        with sqlite3.connect(stack.db) as connection:
            connection.executemany(
                "INSERT INTO downloads (uuid, videoURL, ytdlpParameters, status, attempts, createdAt, updatedAt, "
                "s3UploadAttempts) VALUES (?, ?, ?, 'PENDING', 0, ?, ?, 0)",
                [(uuid, f"{media.url}/clip.mp4", json.dumps(parameters), now, now)
                 for uuid, parameters in hostile.items()])
    finally:
        stack.ctl("start", "dbwriter")
    try:
        for uuid in hostile:
            item = stack.wait_until_final(uuid)
            assert item["downloadStatus"] == "FAILED", item
            assert (item["errorCode"], item["retryable"]) == ("refusedParameters", False), item
            assert "yt-dlp was not run" in item["errorMessage"]
            message = item["errorDetail"]
            assert "yt-dlp was not run" in message and "URLs instead of the download's one" in message, message
            assert str(stack.folder) not in message and str(APP_DIR) not in message
            assert f"download={uuid} refused before yt-dlp ran" in stack.logs()
            assert f"download={uuid} yt-dlp exited" not in stack.logs()
        assert media.requests == []
        assert files_in(stack.data) == data
        assert files_in(APP_DIR) == checkout
    finally:  # what yt-dlp wrote into the checkout when the runner let it run
        for name in files_in(APP_DIR) - checkout:
            if name.endswith((".mp4", ".part", ".ytdl", ".webm", ".mkv")) or name == "pwned":
                (APP_DIR / name).unlink()


def test_refusal_names_the_option_as_typed(stack, media):
    body = stack.initiate(f"{media.url}/clip.mp4", "-f best --exec-befo 'id'").json()
    assert body["errorCode"] == "forbiddenYtdlpParameter"
    assert "--exec-before-download" in body["errorMessage"]


def test_allowed_parameters_are_passed_to_ytdlp(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4", "-x --audio-format mp3")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["fileName"].endswith(".mp3") and ffprobe_streams(stack.data / item["fileName"]) == ["audio"]
    assert item["ytdlpCLIParameters"] == ["-x", "--audio-format", "mp3"]


def test_loopback_is_blocked_by_default(media):
    with Stack(PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS=None) as stack:
        response = stack.initiate(f"{media.url}/clip.mp4")
        assert response.status_code == 418 and response.json()["errorCode"] == "invalidVideoURL"
        assert stack.row_count() == 0


def test_stalled_download_is_killed_and_failed(media):
    with Stack(PRT_VIDEODOWNLOADER_STALLTIMEOUTSECONDS="3") as stack:
        uuid = stack.start_download(f"{media.url}/stall/long.mp4")
        item = stack.wait_until_final(uuid, timeout=60)
        assert item["downloadStatus"] == "FAILED" and item["errorCode"] == "stalled" and item["retryable"], item
        assert item["errorMessage"] == "The download stalled: nothing happened for 3 seconds.", item
        assert item["errorDetail"].startswith("stalled: yt-dlp printed nothing for 3 seconds"), item
        assert leftover_files(stack, uuid) == []


def test_killed_runner_download_is_run_again_to_completion(media, media_folder):
    with Stack() as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4")
        wait_for(lambda: stack.download(uuid)["downloadStatus"] == "DOWNLOADING"
                 and (stack.download(uuid).get("progress") or 0) > 5, timeout=60, message="download to start")
        busy = set(ytdlp_processes(runner=stack.pid("runner")))
        assert busy
        stack.ctl("signal", "KILL", "runner")
        item = stack.wait_until_final(uuid, timeout=120)
        assert item["downloadStatus"] == "COMPLETED" and item["attempts"] == 2, item
        path = stack.data / item["fileName"]
        assert path.read_bytes() == (media_folder / "long.mp4").read_bytes()  # whole, not a torn resume
        wait_for(lambda: not (busy & set(ytdlp_processes())), timeout=10, message="old yt-dlp processes to die")
