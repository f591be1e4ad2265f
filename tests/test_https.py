"""listDownloads, getVideoDownloadPublicURL, the client allowlist, and nginx in front (real nginx, TLS)."""
from __future__ import annotations

import http.client
import json
import sqlite3
import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

import ssl

import pytest
import requests

from common import bus
from common.config import Settings
from tests.stack import Stack, wait_for


def error_code(response: requests.Response) -> str:
    assert response.status_code == 418, response.text
    return response.json()["errorCode"]


@pytest.fixture(scope="module")
def completed(stack, media):
    uuid = stack.start_download(f"{media.url}/clip.mp4")
    item = stack.wait_until_final(uuid)
    assert item["downloadStatus"] == "COMPLETED", item
    return item


def test_https_link_serves_exactly_the_file(stack, completed):
    link = stack.public_url(completed["downloadUUID"]).json()["publicURL"]
    assert link == f"{stack.https}/videodownloader/{completed['fileName']}"
    response = requests.get(link, verify=stack.ca, timeout=10)
    assert response.status_code == 200
    assert response.content == (stack.data / completed["fileName"]).read_bytes()
    assert response.headers["Content-Type"] == "video/mp4"
    assert "immutable" in response.headers["Cache-Control"]


def test_range_request_gives_206(stack, completed):
    link = f"{stack.https}/videodownloader/{completed['fileName']}"
    response = requests.get(link, headers={"Range": "bytes=0-99"}, verify=stack.ca, timeout=10)
    assert response.status_code == 206 and len(response.content) == 100
    assert response.content == (stack.data / completed["fileName"]).read_bytes()[:100]


@pytest.mark.parametrize("path", [
    "/videodownloader/../db/prt-videodownloader.sqlite",
    "/videodownloader/..%2fdb/prt-videodownloader.sqlite",
    "/videodownloader/%2e%2e/db/prt-videodownloader.sqlite",
    "/videodownloader/..%252fdb/prt-videodownloader.sqlite",
    "/videodownloader/.partial/",
    "/videodownloader/",
])
def test_nothing_outside_the_finished_files_is_served(stack, path):
    secret = stack.db.read_bytes()[:16]  # "SQLite format 3\0"
    connection = http.client.HTTPSConnection("127.0.0.1", stack.https_port, timeout=10,
                                             context=ssl.create_default_context(cafile=stack.ca))
    connection.request("GET", path)  # sent as is, without client-side normalisation
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert secret not in body
    assert response.status != 200 or b"<html" in body.lower()[:200]  # at most the web UI's page


def test_partial_files_are_never_served(stack):
    partial = stack.data / ".partial" / f"{uuidlib.uuid4()}.mp4.part"
    partial.write_bytes(b"half a video")
    response = requests.get(f"{stack.https}/videodownloader/.partial/{partial.name}", verify=stack.ca, timeout=10)
    assert response.status_code == 404 and b"half a video" not in response.content


def test_symlinks_in_the_video_folder_are_not_followed(stack):
    link = stack.data / f"{uuidlib.uuid4()}.mp4"
    link.symlink_to(stack.db)
    response = requests.get(f"{stack.https}/videodownloader/{link.name}", verify=stack.ca, timeout=10)
    assert response.status_code in (403, 404)


def test_api_and_docs_answer_through_nginx(stack):
    assert requests.get(f"{stack.https}/api/hello", verify=stack.ca, timeout=10).json()["service"] == "prt-videodownloader"
    assert requests.get(f"{stack.https}/openapi/openapi.json", verify=stack.ca, timeout=10).json()["openapi"]
    body = requests.get(f"{stack.https}/api/nowhere", verify=stack.ca, timeout=10)
    assert error_code(body) == "notFound"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_tls_versions(stack):
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=stack.ca)
        context.minimum_version = context.maximum_version = version
        connection = http.client.HTTPSConnection("127.0.0.1", stack.https_port, context=context, timeout=10)
        connection.request("GET", "/api/hello")
        assert connection.getresponse().status == 200
        connection.close()
    old = ssl.create_default_context(cafile=stack.ca)
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        http.client.HTTPSConnection("127.0.0.1", stack.https_port, context=old, timeout=10).connect()


def request_from(source: str, port: int, headers: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    connection.request("GET", "/api/hello", headers=headers)
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_clients_outside_allowed_networks_are_refused_and_forwarded_for_is_only_trusted_from_proxies():
    with Stack(PRT_VIDEODOWNLOADER_TRUSTEDPROXYNETWORKS="127.0.0.2/32",
               PRT_VIDEODOWNLOADER_ALLOWEDCLIENTNETWORKS="127.0.0.0/8") as stack:
        # the trusted proxy (127.0.0.2) says the client is 8.8.8.8: refused
        status, body = request_from("127.0.0.2", stack.api_port, {"X-Forwarded-For": "8.8.8.8"})
        assert status == 418 and body["errorCode"] == "forbiddenClient"
        # the trusted proxy vouches for an allowed client: served
        assert request_from("127.0.0.2", stack.api_port, {"X-Forwarded-For": "127.0.0.9"})[0] == 200
        # an untrusted peer forging the header: the header changes nothing (served as 127.0.0.1)
        assert request_from("127.0.0.1", stack.api_port, {"X-Forwarded-For": "8.8.8.8"})[0] == 200
    with Stack(PRT_VIDEODOWNLOADER_ALLOWEDCLIENTNETWORKS="10.0.0.0/8",
               PRT_VIDEODOWNLOADER_TRUSTEDPROXYNETWORKS="127.0.0.2/32") as stack:
        # an untrusted peer outside the allowed networks cannot get in by claiming an allowed address
        status, body = request_from("127.0.0.1", stack.api_port, {"X-Forwarded-For": "10.1.2.3"})
        assert status == 418 and body["errorCode"] == "forbiddenClient"


def create_through_the_bus(stack: Stack, uuid: str) -> None:
    """A row created by the DB writer's own code path, for a URL that is never downloaded."""
    settings = Settings.load(SQLITEFILEPATH=stack.db, VIDEODATAPATH=stack.data, RUNPATH=stack.run)
    requester = bus.Requester(settings)
    reply = requester.request(bus.CreateDownload(uuid=uuid, videoURL="http://192.0.2.1:9/never.mp4",
                                                 ytdlpParameters=[], deadline=time.time() + 5), timeout=5)
    requester.close()
    assert reply.ok


def test_list_downloads_filters_by_period_and_ongoing(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as stack:
        done = stack.start_download(f"{media.url}/clip.mp4")
        stack.wait_until_final(done)
        running = stack.start_download(f"{media.url}/stall/long.mp4")  # stays DOWNLOADING
        queued = stack.start_download(f"{media.url}/clip.mp4?queued")  # waits behind it
        wait_for(lambda: stack.download(running)["downloadStatus"] == "DOWNLOADING", message="downloading")
        old = str(uuidlib.uuid4())
        create_through_the_bus(stack, old)
        # age one row by three hours, with the DB writer stopped, as the clock would
        stack.ctl("stop", "dbwriter")
        with sqlite3.connect(stack.db) as connection:
            connection.execute("UPDATE downloads SET createdAt = ?, status = 'COMPLETED' WHERE uuid = ?",
                               ((datetime.now(timezone.utc) - timedelta(hours=3)).replace(tzinfo=None), old))
        stack.ctl("start", "dbwriter")

        def uuids(**query):
            return [item["downloadUUID"] for item in stack.downloads(**query)]

        last_hour = uuids()
        assert last_hour == [queued, running, done]  # newest first, the 3-hour-old one left out
        assert uuids(overLastPeriodDurationInMinutes=240) == [queued, running, done, old]
        assert uuids(onlyShowOngoingDownloads="true") == [queued, running]
        item = stack.download(running)
        assert {"downloadUUID", "downloadStatus", "videoURL", "createdAt", "updatedAt", "progress"} <= set(item)
        for bad in ({"overLastPeriodDurationInMinutes": 0}, {"overLastPeriodDurationInMinutes": "x"},
                    {"onlyShowOngoingDownloads": "maybe"}):
            assert error_code(requests.get(f"{stack.api}/api/listDownloads", params=bad, timeout=5)) == \
                "invalidParameters"
        # each error case of getVideoDownloadPublicURL has its code
        assert error_code(stack.public_url(running)) == "downloadNotReady"
        assert error_code(stack.public_url(queued)) == "downloadNotReady"
        assert error_code(stack.public_url(str(uuidlib.uuid4()))) == "downloadNotFound"
        assert error_code(stack.public_url(done, "S3")) == "s3NotConfigured"
        assert error_code(stack.public_url(done, "FTP")) == "invalidParameters"
        assert stack.public_url(done).json()["publicURL"].endswith(f"/videodownloader/{done}.mp4")
