"""What must hold when things go wrong: crashes, restarts, a missing DB writer, a full disk, hostile input, load."""
from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import time

import pytest
import requests

from tests.stack import PYTHON, Stack, wait_for, ytdlp_processes

FINAL = ("COMPLETED", "FAILED")


def all_final(stack: Stack, uuids: list[str]) -> list[dict] | None:
    items = {item["downloadUUID"]: item for item in stack.downloads(overLastPeriodDurationInMinutes=600)}
    if all(items.get(uuid, {}).get("downloadStatus") in FINAL for uuid in uuids):
        return [items[uuid] for uuid in uuids]
    return None


def test_kill_9_of_each_service_loses_no_download(media, media_folder):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="3") as stack:
        uuids = [stack.start_download(f"{media.url}/slow/long.mp4?chaos={n}") for n in range(6)]
        old_children: set[int] = set()
        for service in ("runner", "scheduler", "dbwriter", "api"):
            wait_for(lambda: any(i["downloadStatus"] == "DOWNLOADING" and (i.get("progress") or 0) > 1
                                 for i in stack.downloads()), timeout=60, message="downloads in progress")
            pid = stack.pid(service)
            if service == "runner":
                old_children = set(ytdlp_processes(runner=pid))
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: stack.status()[service][0] == "RUNNING" and stack.pid(service) != pid,
                     timeout=30, message=f"{service} restarted")
        wait_for(lambda: not (old_children & set(ytdlp_processes())), timeout=10,
                 message="the killed runner's yt-dlp processes to die with it")
        items = wait_for(lambda: all_final(stack, uuids), timeout=240, interval=0.5, message="all downloads")
        original = (media_folder / "long.mp4").read_bytes()
        for item in items:
            assert item["downloadStatus"] == "COMPLETED", item
            assert (stack.data / item["fileName"]).read_bytes() == original  # whole files
        assert any(item["attempts"] >= 2 for item in items)  # the runner's victims ran again
        assert "database is locked" not in stack.logs()


def test_downloads_fail_with_a_true_reason_after_max_attempts(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXATTEMPTS="2") as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?doomed")
        for attempt in (1, 2):
            wait_for(lambda: (i := stack.download(uuid))["downloadStatus"] == "DOWNLOADING"
                     and i["attempts"] == attempt and (i.get("progress") or 0) > 1, timeout=60,
                     message=f"attempt {attempt}")
            pid = stack.pid("runner")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: stack.pid("runner") not in (None, pid), timeout=30, message="runner restarted")
        item = stack.wait_until_final(uuid, timeout=60)
        assert item["downloadStatus"] == "FAILED" and item["attempts"] == 2
        assert (item["errorCode"], item["retryable"]) == ("runnerLost", True), item
        assert "gave up after 2 attempts" in item["errorDetail"] and "runner" in item["errorDetail"]


def test_whole_restart_with_twenty_downloads_queued_or_running(media):
    stack = Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="4")
    with stack:
        uuids = [stack.start_download(f"{media.url}/slow/clip.mp4?restart={n}") for n in range(20)]
        wait_for(lambda: sum(i["downloadStatus"] == "DOWNLOADING" for i in stack.downloads()) >= 2,
                 message="some downloads running")
    assert stack.process.returncode is not None
    with Stack(folder=stack.folder, PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="4") as again:
        items = wait_for(lambda: all_final(again, uuids), timeout=180, interval=0.5, message="all twenty")
        assert [item["downloadStatus"] for item in items] == ["COMPLETED"] * 20


def test_db_writer_down_gives_service_unavailable_quickly_and_stores_nothing(stack, media):
    rows = stack.row_count()
    stack.ctl("stop", "dbwriter")
    try:
        started = time.monotonic()
        response = stack.initiate(f"{media.url}/clip.mp4?while-down")
        elapsed = time.monotonic() - started
        assert response.status_code == 418 and response.json()["errorCode"] == "serviceUnavailable"
        assert elapsed < 10, elapsed
    finally:
        stack.ctl("start", "dbwriter")
    wait_for(lambda: stack.all_running(), message="the DB writer back")
    uuid = stack.start_download(f"{media.url}/clip.mp4?after")  # once it is back, the late command is gone
    assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
    assert stack.row_count() == rows + 1
    assert "/clip.mp4?while-down" not in media.requests


@pytest.fixture
def small_disk(tmp_path):
    """A 400 kB tmpfs as the data folder: the long clip (about 1.5 MB) cannot fit, the short one (50 kB) can."""
    mount_point = tmp_path / "data"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k,mode=0755", "tmpfs", str(mount_point)], check=True)
    tmp_path.chmod(0o755)
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_fails_the_download_cleanly(small_disk, media):
    with Stack(PRT_VIDEODOWNLOADER_VIDEODATAPATH=str(small_disk)) as stack:
        stack.data = small_disk
        uuid = stack.start_download(f"{media.url}/long.mp4?disk-full")
        item = stack.wait_until_final(uuid)
        assert item["downloadStatus"] == "FAILED"
        assert (item["errorCode"], item["retryable"]) == ("diskFull", True), item
        assert item["errorMessage"] == "The server ran out of disk space during the download."
        assert "No space left on device" in item["errorDetail"], item["errorDetail"]
        assert str(small_disk) not in item["errorDetail"]
        assert not list(small_disk.glob(f"**/{uuid}*"))  # the partial file is gone
        other = stack.start_download(f"{media.url}/clip.mp4?after-disk-full")  # small enough to fit
        assert stack.wait_until_final(other)["downloadStatus"] == "COMPLETED"
        with __import__("sqlite3").connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_schemathesis_finds_no_server_error_and_every_error_is_418(stack, tmp_path):
    result = subprocess.run(
        [str(PYTHON), "-m", "schemathesis.cli", "run", f"{stack.api}/openapi/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                     "response_schema_conformance",
         # the event stream never ends by design (tests/test_push.py covers it); every other operation is tried
         "--exclude-path", "/api/events",
         "--max-examples", "40", "--workers", "2", "--seed", "1", "--report-junit-path",
         str(tmp_path / "schemathesis.xml")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or "passed" in result.stdout.lower(), result.stdout[-3000:]


@pytest.mark.parametrize("body,headers", [
    (b"{" + b'"a":' * 0 + b'"videoURL": "' + b"x" * 200_000 + b'"}', {"Content-Type": "application/json"}),
    (json.dumps({"videoURL": "http://example.com/" + "a" * 5000}).encode(), {"Content-Type": "application/json"}),
    (b'{"videoURL": "http://example.com/\xff\xfe.mp4"}', {"Content-Type": "application/json"}),
    (b'{"videoURL": ' + b"[" * 5000 + b"]" * 5000 + b"}", {"Content-Type": "application/json"}),
    (b"videoURL=http://example.com/x.mp4", {"Content-Type": "application/x-www-form-urlencoded"}),
    (b'{"videoURL": "http://example.com/x.mp4", "extra": 1}', {"Content-Type": "application/json"}),
])
def test_malformed_bodies_are_refused_cleanly(stack, body, headers):
    rows = stack.row_count()
    response = requests.post(f"{stack.api}/api/initiateDownload", data=body, headers=headers, timeout=10)
    assert response.status_code == 418, response.text[:300]
    assert set(response.json()) == {"errorCode", "errorMessage"}
    assert stack.row_count() == rows


def test_non_utf8_query_strings_are_refused_cleanly(stack):
    response = requests.get(f"{stack.api}/api/getVideoDownloadPublicURL?videoDownloadUUID=%ff%fe&URLType=%ff",
                            timeout=10)
    assert response.status_code == 418 and set(response.json()) == {"errorCode", "errorMessage"}


def test_two_hundred_concurrent_initiations_are_all_stored(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="2") as stack:
        def initiate(n):
            return stack.start_download(f"{media.url}/missing.mp4?load={n}")

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            uuids = list(pool.map(initiate, range(200)))
        assert len(set(uuids)) == 200
        assert stack.row_count() == 200
        listed = {item["downloadUUID"] for item in stack.downloads(maxResults=1000)}
        assert set(uuids) <= listed


def test_fifty_throttled_downloads_at_once_keep_progress_moving(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="50") as stack:
        uuids = [stack.start_download(f"{media.url}/slow/long.mp4?fifty={n}") for n in range(50)]
        progress_seen: dict[str, set] = {uuid: set() for uuid in uuids}

        def sample():
            items = {i["downloadUUID"]: i for i in stack.downloads(maxResults=1000)}
            for uuid in uuids:
                if items[uuid]["downloadStatus"] == "DOWNLOADING" and items[uuid].get("progress") is not None:
                    progress_seen[uuid].add(items[uuid]["progress"])
            return all(items[uuid]["downloadStatus"] in FINAL for uuid in uuids) and items

        items = wait_for(sample, timeout=300, interval=0.5, message="fifty downloads")
        assert all(items[uuid]["downloadStatus"] == "COMPLETED" for uuid in uuids)
        moving = sum(len(values) >= 2 for values in progress_seen.values())
        assert moving >= 40, moving  # progress kept updating for nearly all of them
        assert "database is locked" not in stack.logs()


def test_file_names_never_come_from_the_video(stack, media):
    uuid = stack.start_download(f"{media.url}/hls/index.m3u8?title=..%2F..%2Fetc%2Fpasswd")
    item = stack.wait_until_final(uuid)
    assert item["fileName"].startswith(uuid + ".")
    assert [p.name for p in stack.data.iterdir() if p.name.startswith(uuid)] == [item["fileName"]]
