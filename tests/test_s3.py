"""S3 publication, against moto's S3 server on loopback: a stand-in for RustFS, which cannot be installed here."""
from __future__ import annotations

import sqlite3
from urllib.parse import parse_qs, urlsplit

import requests
from moto.server import ThreadedMotoServer

from tests.stack import Stack, free_port, metric, wait_for

EXPIRY = 3600


def s3_settings(port: int) -> dict[str, str]:
    return {"PRT_VIDEODOWNLOADER_S3ENDPOINTURL": f"http://127.0.0.1:{port}",
            "PRT_VIDEODOWNLOADER_S3BUCKET": "prt-test-videos",
            "PRT_VIDEODOWNLOADER_S3ACCESSKEY": "testaccess", "PRT_VIDEODOWNLOADER_S3SECRETKEY": "testsecret",
            "PRT_VIDEODOWNLOADER_S3URLEXPIRYSECONDS": str(EXPIRY)}


def s3_link(stack: Stack, uuid: str) -> requests.Response:
    return stack.public_url(uuid, "S3")


def test_completed_download_is_uploaded_and_presigned_link_serves_its_bytes_moto_stand_in(media):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        with Stack(**s3_settings(port)) as stack:
            uuid = stack.start_download(f"{media.url}/clip.mp4")
            assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
            answer = wait_for(lambda: (r := s3_link(stack, uuid)).status_code == 200 and r.json(), timeout=30,
                              message="the S3 link")
            assert answer["s3URI"] == f"s3://prt-test-videos/{uuid}.mp4"
            link = answer["publicURL"]
            query = parse_qs(urlsplit(link).query)
            assert query["X-Amz-Expires"] == [str(EXPIRY)] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
            assert urlsplit(link).path == f"/prt-test-videos/{uuid}.mp4"  # path-style
            fetched = requests.get(link, timeout=10)  # a plain HTTP client, no credentials
            assert fetched.status_code == 200
            assert fetched.content == (stack.data / f"{uuid}.mp4").read_bytes()
            assert fetched.headers["Content-Type"] == "video/mp4"
            assert stack.download(uuid)["s3Available"] is True
    finally:
        server.stop()


def test_upload_waits_for_the_s3_server_and_succeeds_once_it_is_back_moto_stand_in(media):
    port = free_port()  # nothing listens there yet
    with Stack(**s3_settings(port)) as stack:
        uuid = stack.start_download(f"{media.url}/clip.mp4")
        assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
        # HTTPS works at once; S3 says not ready, with the failure visible in the row
        assert stack.public_url(uuid).status_code == 200
        wait_for(lambda: stack.download(uuid).get("s3UploadError"), timeout=30, message="a failed upload")
        refused = s3_link(stack, uuid)
        assert refused.status_code == 418 and refused.json()["errorCode"] == "downloadNotReady"
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        try:
            answer = wait_for(lambda: (r := s3_link(stack, uuid)).status_code == 200 and r.json(), timeout=60,
                              message="the upload to succeed once S3 is back")
            assert requests.get(answer["publicURL"], timeout=10).content == (stack.data / f"{uuid}.mp4").read_bytes()
            with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
                attempts = connection.execute("SELECT s3UploadAttempts FROM downloads WHERE uuid = ?",
                                              (uuid,)).fetchone()[0]
            assert attempts >= 2
            def counted() -> dict[str, float]:  # by the DB writer, from the publisher's reports on the bus
                return {result: metric(stack, "prt_s3_uploads_total", f'{{result="{result}"}}')
                        for result in ("failed", "uploaded")}
            wait_for(lambda: counted() == {"failed": attempts - 1, "uploaded": 1}, timeout=10,
                     message="the failed and the successful upload attempts counted")
        finally:
            server.stop()


def test_presigned_links_are_signed_for_the_public_endpoint_moto_stand_in(media):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        public = f"http://localhost:{port}"
        with Stack(**s3_settings(port), PRT_VIDEODOWNLOADER_S3PUBLICURL=public) as stack:
            uuid = stack.start_download(f"{media.url}/clip.mp4")
            stack.wait_until_final(uuid)
            answer = wait_for(lambda: (r := s3_link(stack, uuid)).status_code == 200 and r.json(), timeout=30,
                              message="the S3 link")
            assert answer["publicURL"].startswith(f"{public}/prt-test-videos/")
            assert requests.get(answer["publicURL"], timeout=10).status_code == 200
    finally:
        server.stop()


def test_a_thumbnail_is_uploaded_with_its_video_and_deleted_with_it_moto_stand_in(media):
    import boto3
    from botocore.config import Config

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        with Stack(**s3_settings(port)) as stack:
            bucket = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="testaccess",
                                  aws_secret_access_key="testsecret", region_name="us-east-1",
                                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

            def keys() -> set[str]:
                listed = bucket.list_objects_v2(Bucket="prt-test-videos")
                return {entry["Key"] for entry in listed.get("Contents", [])}

            uuid = stack.start_download(f"{media.url}/og-video.html")
            item = stack.wait_until_final(uuid)
            assert item["downloadStatus"] == "COMPLETED" and item["thumbnailURL"].endswith(f"/{uuid}.jpg"), item
            wait_for(lambda: stack.download(uuid)["s3Available"], timeout=30, message="the upload")
            assert {f"{uuid}.mp4", f"{uuid}.jpg"} <= keys()  # the thumbnail is there once the link is
            thumbnail = bucket.get_object(Bucket="prt-test-videos", Key=f"{uuid}.jpg")["Body"].read()
            assert thumbnail == (stack.data / f"{uuid}.jpg").read_bytes()
            assert requests.post(f"{stack.api}/api/deleteDownload", json={"videoDownloadUUID": uuid},
                                 timeout=10).ok
            wait_for(lambda: not {f"{uuid}.mp4", f"{uuid}.jpg"} & keys(), timeout=30, message="both objects gone")
    finally:
        server.stop()
