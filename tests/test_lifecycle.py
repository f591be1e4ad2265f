"""Cancel, delete, retry, retention, health and metrics against the real stack."""
from __future__ import annotations

import shutil
import uuid as uuidlib

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.stack import Stack, free_port, loaded_by_services, metric, wait_for, ytdlp_processes


def post(stack: Stack, operation: str, uuid: str) -> requests.Response:
    return requests.post(f"{stack.api}/api/{operation}", json={"videoDownloadUUID": uuid}, timeout=10)


def test_cancel_stops_ytdlp_and_stays_cancelled_after_a_restart(media):
    stack = Stack(PRT_VIDEODOWNLOADER_WARMPROCESSES="2")
    with stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?cancel")
        wait_for(lambda: (stack.download(uuid).get("progress") or 0) > 1, message="the download to progress")
        runner = stack.pid("runner")
        wait_for(lambda: len(ytdlp_processes(runner=runner)) == 3, message="two spares and the busy one")
        response = post(stack, "cancelDownload", uuid)
        assert response.status_code == 200 and response.json()["downloadStatus"] == "CANCELLED"
        assert stack.download(uuid)["downloadStatus"] == "CANCELLED"
        wait_for(lambda: len(ytdlp_processes(runner=runner)) == 2 and "/slow/long.mp4?cancel" not in media.active,
                 message="the yt-dlp process to be gone")
        wait_for(lambda: not list(stack.data.glob(f"**/{uuid}*")), message="partial files removed")
        assert post(stack, "cancelDownload", uuid).json()["errorCode"] == "downloadNotOngoing"
    requests_before = media.requests.count("/slow/long.mp4?cancel")
    with Stack(folder=stack.folder) as again:
        queued = again.start_download(f"{media.url}/clip.mp4")  # the queue runs after the restart
        assert again.wait_until_final(queued)["downloadStatus"] == "COMPLETED"
        assert again.download(uuid)["downloadStatus"] == "CANCELLED"
        assert media.requests.count("/slow/long.mp4?cancel") == requests_before  # never re-run


def test_cancel_a_pending_download(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as stack:
        blocker = stack.start_download(f"{media.url}/stall/long.mp4?blocker")
        waiting = stack.start_download(f"{media.url}/clip.mp4?waiting")
        wait_for(lambda: stack.download(blocker)["downloadStatus"] == "DOWNLOADING", message="the blocker")
        assert post(stack, "cancelDownload", waiting).status_code == 200
        assert post(stack, "cancelDownload", blocker).status_code == 200
        follower = stack.start_download(f"{media.url}/clip.mp4?follower")
        assert stack.wait_until_final(follower)["downloadStatus"] == "COMPLETED"
        assert stack.download(waiting)["downloadStatus"] == "CANCELLED"
        assert "/clip.mp4?waiting" not in media.requests


def test_delete_removes_https_file_s3_object_and_row_moto_stand_in(media):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        with Stack(PRT_VIDEODOWNLOADER_S3ENDPOINTURL=f"http://127.0.0.1:{port}",
                   PRT_VIDEODOWNLOADER_S3ACCESSKEY="a", PRT_VIDEODOWNLOADER_S3SECRETKEY="b") as stack:
            uuid = stack.start_download(f"{media.url}/clip.mp4")
            stack.wait_until_final(uuid)
            wait_for(lambda: stack.download(uuid)["s3Available"], message="the S3 upload")
            link = stack.public_url(uuid).json()["publicURL"]
            assert requests.get(link, verify=stack.ca, timeout=10).status_code == 200
            s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="a", aws_secret_access_key="b",
                              config=Config(s3={"addressing_style": "path"}))
            assert s3.list_objects_v2(Bucket="prt-videodownloader").get("KeyCount") == 1
            assert post(stack, "deleteDownload", uuid).json() == {"downloadUUID": uuid, "deleted": True}
            assert stack.download(uuid) is None
            assert stack.public_url(uuid).json()["errorCode"] == "downloadNotFound"
            wait_for(lambda: requests.get(link, verify=stack.ca, timeout=10).status_code == 404,
                     message="the HTTPS link to answer 404")
            wait_for(lambda: s3.list_objects_v2(Bucket="prt-videodownloader").get("KeyCount") == 0,
                     message="the S3 object to disappear")
            assert post(stack, "deleteDownload", uuid).json()["errorCode"] == "downloadNotFound"
    finally:
        server.stop()


def test_retry_of_a_failed_download_whose_url_now_works(stack, media, media_folder):
    name = f"late-{uuidlib.uuid4().hex}.mp4"
    uuid = stack.start_download(f"{media.url}/{name}")
    failed = stack.wait_until_final(uuid)
    assert failed["downloadStatus"] == "FAILED" and failed["attempts"] == 1
    assert post(stack, "retryDownload", str(uuidlib.uuid4())).json()["errorCode"] == "downloadNotFound"
    shutil.copy(media_folder / "clip.mp4", media_folder / name)
    try:
        response = post(stack, "retryDownload", uuid)
        assert response.status_code == 200 and response.json()["downloadStatus"] == "PENDING"
        item = wait_for(lambda: (i := stack.download(uuid))["downloadStatus"] == "COMPLETED" and i, timeout=60,
                        message="the retried download")
        assert item["attempts"] == 2 and "errorMessage" not in item
        assert post(stack, "retryDownload", uuid).json()["errorCode"] == "downloadNotRetryable"
    finally:
        (media_folder / name).unlink()


def test_retention_removes_old_finished_downloads_and_keeps_new_ones(media):
    with Stack(PRT_VIDEODOWNLOADER_RETENTIONHOURS="0.002") as stack:  # 7.2 seconds
        old = stack.start_download(f"{media.url}/clip.mp4?old")
        stack.wait_until_final(old)
        wait_for(lambda: stack.download(old) is None, timeout=30, message="retention to delete the old download")
        new = stack.start_download(f"{media.url}/clip.mp4?new")
        assert stack.wait_until_final(new)["downloadStatus"] == "COMPLETED"
        assert not list(stack.data.glob(f"{old}*"))
        assert (stack.data / f"{new}.mp4").exists() and stack.download(new) is not None
        assert f"retention: download={old}" in stack.logs()


def test_health_follows_the_db_writer(stack):
    assert requests.get(f"{stack.api}/api/health", timeout=10).status_code == 200
    stack.ctl("stop", "dbwriter")
    try:
        response = requests.get(f"{stack.api}/api/health", timeout=10)
        assert response.status_code == 418 and response.json()["errorCode"] == "unhealthy"
        assert "dbwriter" in response.json()["errorMessage"]
    finally:
        stack.ctl("start", "dbwriter")
    wait_for(lambda: requests.get(f"{stack.api}/api/health", timeout=10).status_code == 200,
             message="health to recover")
    stack.ctl("stop", "runner")
    try:
        body = wait_for(lambda: (r := requests.get(f"{stack.api}/api/health", timeout=10)).status_code == 418
                        and r.json(), message="health to notice the runner is gone")
        assert body["errorCode"] == "unhealthy" and "runner" in body["errorMessage"]
    finally:
        stack.ctl("start", "runner")
    wait_for(lambda: requests.get(f"{stack.api}/api/health", timeout=10).status_code == 200,
             message="health to recover")


def test_metrics_move_as_downloads_finish(stack, media):
    completed = metric(stack, "prt_downloads_finished_total", '{status="COMPLETED"}')
    failed = metric(stack, "prt_downloads_finished_total", '{status="FAILED"}')
    exits = metric(stack, "prt_ytdlp_exit_codes_total", '{code="0"}')
    sizes = metric(stack, "prt_download_size_bytes_count"), metric(stack, "prt_download_size_bytes_sum")
    item = stack.wait_until_final(stack.start_download(f"{media.url}/clip.mp4?metrics"))
    stack.wait_until_final(stack.start_download(f"{media.url}/missing.mp4?metrics"))
    assert metric(stack, "prt_downloads_finished_total", '{status="COMPLETED"}') == completed + 1
    assert metric(stack, "prt_download_size_bytes_count") == sizes[0] + 1
    assert metric(stack, "prt_download_size_bytes_sum") == sizes[1] + item["downloadSizeInBytes"]
    assert metric(stack, "prt_download_size_bytes_bucket", '{le="+Inf"}') == sizes[0] + 1
    assert metric(stack, "prt_downloads_finished_total", '{status="FAILED"}') == failed + 1
    # the runner reports each exit on the bus: counted by the DB writer
    wait_for(lambda: metric(stack, "prt_ytdlp_exit_codes_total", '{code="0"}') == exits + 1, timeout=10,
             message="the exit of the completed download counted")
    text = requests.get(f"{stack.api}/api/metrics", timeout=10).text
    for name in ("prt_queue_depth", "prt_downloads_running", "prt_download_duration_seconds_bucket",
                 "prt_download_size_bytes_bucket", "prt_dbwriter_commit_seconds_bucket"):
        assert name in text, name


def test_no_service_loads_prometheus_client_to_count(tmp_path):
    """Only the DB writer counts, in plain Python (common.metrics); the API loads prometheus_client when
    /api/metrics is first asked for (~4 MiB less in each, issue 20)."""
    assert not loaded_by_services("prometheus_client", tmp_path)
