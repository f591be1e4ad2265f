"""What a client learns about a download, on the real stack: the error class of every failure loopback can
produce (errorCode, a plain errorMessage, yt-dlp's line as errorDetail, retryable), and what yt-dlp found out
about the video (title, duration, extractor, page, thumbnail published next to it).

Stalled, tooSlow, diskFull, blockedAddress and the runnerLost of a killed runner are asserted where those
situations are already made: test_pipeline, test_status, test_reliability, test_egress, test_process_lifetimes.
"""
from __future__ import annotations

import os
import re
import signal

import pytest
import requests

from tests.media import OG_TITLE, ffprobe_streams
from tests.stack import APP_DIR, Stack, free_port, wait_for, ytdlp_process_of

NO_PATH_OR_REPR = re.compile(r"(^|\s)/\w|Errno|<\w+|\w+Error\(")


def files_of(stack: Stack, uuid: str) -> list[str]:
    return sorted(p.name for folder in (stack.data, stack.data / ".partial") for p in folder.glob(f"{uuid}*"))


def assert_failed_as(stack: Stack, uuid: str, code: str, retryable: bool, detail: str) -> dict:
    item = stack.wait_until_final(uuid, timeout=90)
    assert item["downloadStatus"] == "FAILED", item
    assert (item["errorCode"], item["retryable"]) == (code, retryable), item
    message = item["errorMessage"]
    assert message.endswith(".") and not NO_PATH_OR_REPR.search(message), message
    assert detail in item["errorDetail"], item["errorDetail"]
    for text in (message, item["errorDetail"]):
        assert str(stack.folder) not in text and str(APP_DIR) not in text
    assert files_of(stack, uuid) == []
    answer = stack.public_url(uuid)
    assert answer.status_code == 418
    assert answer.json() == {"errorCode": "downloadFailed", "errorMessage": message, "downloadErrorCode": code,
                             "retryable": retryable, "errorDetail": item["errorDetail"]}
    return item


@pytest.mark.parametrize("path,parameters,code,retryable,detail,status", [
    ("/missing.mp4", None, "videoNotFound", False, "HTTP Error 404", "404"),
    ("/status/410", None, "videoNotFound", False, "HTTP Error 410", "410"),
    ("/status/500", None, "httpError", True, "HTTP Error 500", "500"),
    ("/status/403", None, "httpError", False, "HTTP Error 403", "403"),
    ("/page.html", None, "unsupportedURL", False, "Unsupported URL", None),
    ("/notes.txt", None, "notMedia", False, "did not serve a video", None),
    ("/clip.mp4", "-f 12345", "formatUnavailable", False, "Requested format is not available", None),
    ("/clip.mp4", "--max-filesize 1k", "fileTooLarge", False, "larger than max-filesize", None),
    ("/redirect?to=http://no-such-host.invalid/video.mp4", None, "networkError", True, "Failed to resolve", None),
])
def test_each_failure_has_its_class(stack, media, path, parameters, code, retryable, detail, status):
    uuid = stack.start_download(f"{media.url}{path}", parameters)
    item = assert_failed_as(stack, uuid, code, retryable, detail)
    if status:
        assert f"(HTTP {status})" in item["errorMessage"]


def test_a_refused_connection_is_a_network_error(stack):
    uuid = stack.start_download(f"http://127.0.0.1:{free_port()}/video.mp4")  # nothing listens there
    assert_failed_as(stack, uuid, "networkError", True, "Connection refused")


def test_a_page_with_a_video_gives_its_title_and_a_published_thumbnail(stack, media, media_folder):
    uuid = stack.start_download(f"{media.url}/og-video.html")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["videoTitle"].startswith(OG_TITLE), item  # yt-dlp numbers the page's videos: "... (1)"
    assert item["extractor"] == "html5" and item["webpageURL"] == f"{media.url}/og-video.html"
    assert item["videoDurationSeconds"] == pytest.approx(3, abs=0.2)
    assert "errorCode" not in item and "retryable" not in item
    thumbnail = f"{uuid}.jpg"
    assert item["thumbnailURL"] == f"{stack.https}/videodownloader/{thumbnail}"
    assert files_of(stack, uuid) == sorted([item["fileName"], thumbnail])  # the video and its thumbnail only
    served = requests.get(item["thumbnailURL"], verify=stack.ca, timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.content == (media_folder / "thumb.jpg").read_bytes()
    assert stack.public_url(uuid).json()["publicURL"].endswith(item["fileName"])  # the link is the video's
    assert set(ffprobe_streams(stack.data / item["fileName"])) == {"video", "audio"}

    assert requests.post(f"{stack.api}/api/deleteDownload", json={"videoDownloadUUID": uuid}, timeout=10).ok
    wait_for(lambda: not files_of(stack, uuid), timeout=30, message="the video and its thumbnail to go")
    assert requests.get(item["thumbnailURL"], verify=stack.ca, timeout=10).status_code == 404


def test_a_bare_file_is_titled_by_its_name_and_has_no_thumbnail(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4?bare")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    assert item["videoTitle"] == "clip" and item["extractor"] == "generic", item
    assert item["webpageURL"] == f"{media.url}/clip.mp4?bare"
    assert item["videoDurationSeconds"] == pytest.approx(3, abs=0.2)  # from the file: yt-dlp does not know it
    assert "thumbnailURL" not in item and "videoUploader" not in item
    assert files_of(stack, uuid) == [item["fileName"]]


def test_a_ytdlp_process_killed_at_the_last_attempt_fails_as_runner_lost(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXATTEMPTS="1") as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?runner-lost")
        victim = wait_for(lambda: (stack.download(uuid).get("progress") or 0) > 1 and ytdlp_process_of(uuid),
                          timeout=60, message="the download in progress")
        os.kill(victim, signal.SIGKILL)
        item = stack.wait_until_final(uuid, timeout=60)
        assert item["downloadStatus"] == "FAILED" and item["attempts"] == 1, item
        assert (item["errorCode"], item["retryable"]) == ("runnerLost", True)
        assert item["errorMessage"] == "The download was given up after 1 attempt cut short by a failure of the service."
        assert item["errorDetail"] == ("gave up after 1 attempts: runner lost its yt-dlp process: killed by SIGKILL, "
                                       "a signal the service did not send")
