"""The foundation: processes under supervisord, configuration, the bus to the DB writer, the API shell."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from common import bus
from common.config import Settings
from tests.stack import APP_DIR, PYTHON, SERVICES, wait_for


def assert_error(response: requests.Response, code: str | None = None) -> dict:
    assert response.status_code == 418, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"errorCode", "errorMessage"}, body
    assert re.fullmatch(r"[a-z][A-Za-z]+", body["errorCode"]) and body["errorMessage"]
    if code:
        assert body["errorCode"] == code, body
    return body


def test_supervisord_runs_every_service(stack):
    status = stack.status()
    for name in (*SERVICES, "nginx"):
        assert status[name][0] == "RUNNING", status


def test_hello_and_openapi_document(stack):
    hello = requests.get(f"{stack.api}/api/hello", timeout=5)
    assert hello.status_code == 200 and hello.json()["message"].startswith("Hello")
    document = requests.get(f"{stack.api}/openapi/openapi.json", timeout=5).json()
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()}
    assert {"initiateDownload", "listDownloads", "getVideoDownloadPublicURL"} <= set(operations)
    for operation in operations.values():
        schema = operation["responses"]["418"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, schema


def test_docs_ui_works_offline(stack):
    page = requests.get(f"{stack.api}/openapi/swagger", timeout=5)
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
    assert assets, page.text[:500]
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), f"docs UI loads {asset} from the internet"
        url = asset if asset.startswith("/") else f"/openapi/{asset}"
        assert requests.get(f"{stack.api}{url}", timeout=5).status_code == 200, url


def test_command_on_the_bus_is_committed_and_readable_by_the_api(stack):
    settings = Settings.load(**{k: v for k, v in {
        "SQLITEFILEPATH": stack.db, "VIDEODATAPATH": stack.data, "RUNPATH": stack.run}.items()})
    requester = bus.Requester(settings)
    uuid = "00000000-0000-4000-8000-000000000001"
    # a FAILED-to-be URL nobody serves: what matters is the row, not the download
    reply = requester.request(bus.CreateDownload(uuid=uuid, videoURL="http://127.0.0.1:9/none.mp4",
                                                 ytdlpParameters=[], deadline=time.time() + 5), timeout=5)
    requester.close()
    assert reply.ok, reply
    assert stack.download(uuid) is not None  # visible at once: the reply came after the commit


def test_database_is_in_wal_mode_and_migrated(stack):
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        indexes = {row[1] for row in connection.execute("PRAGMA index_list(downloads)")}
    heads = sorted(p.name.split("_")[0] for p in (APP_DIR / "common" / "migrations" / "versions").glob("*.py"))
    assert version == heads[-1]
    assert {"ix_downloads_createdAt", "ix_downloads_status_createdAt"} <= indexes


def test_readers_cannot_write(stack):
    from common.sqlite_reader import SQLiteReader

    with pytest.raises(Exception, match="readonly|read-only|attempt to write"):
        SQLiteReader(stack.db).rows("DELETE FROM downloads")


@pytest.mark.parametrize("service", SERVICES)
def test_killed_service_is_restarted(stack, service):
    before = stack.pid(service)
    os.kill(before, signal.SIGKILL)
    wait_for(lambda: stack.status()[service][0] == "RUNNING" and stack.pid(service) != before,
             timeout=30, message=f"{service} to be restarted")
    wait_for(stack.hello_ok, timeout=30, message="the API to answer")


def test_errors_are_418_with_code_and_message(stack):
    assert_error(requests.get(f"{stack.api}/no/such/path", timeout=5), "notFound")
    assert_error(requests.delete(f"{stack.api}/api/hello", timeout=5), "methodNotAllowed")
    assert_error(requests.get(f"{stack.api}/api/listDownloads",
                              params={"overLastPeriodDurationInMinutes": "sixty"}, timeout=5), "invalidParameters")
    assert_error(requests.post(f"{stack.api}/api/initiateDownload", data=b"{not json",
                               headers={"Content-Type": "application/json"}, timeout=5))
    assert_error(requests.post(f"{stack.api}/api/initiateDownload", json={"videoURL": "x" * 100_000}, timeout=5),
                 "requestTooLarge")


def test_exception_inside_a_handler_gives_418(tmp_path, monkeypatch):
    from services.api import app as api_module

    settings = Settings.load(SQLITEFILEPATH=tmp_path / "db.sqlite", VIDEODATAPATH=tmp_path / "data",
                        RUNPATH=tmp_path / "run")

    def explode(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(api_module.Backend, "require_database", explode)
    client = api_module.create_app(settings).test_client()
    response = client.get("/api/listDownloads")
    assert response.status_code == 418
    assert response.get_json()["errorCode"] == "internalError"


def test_reads_without_a_readable_database_are_service_unavailable(tmp_path):
    """Before the DB writer created the database, and when the file is not one, every read answers
    serviceUnavailable (418), not a crash or an empty list."""
    from services.api import app as api_module

    settings = Settings.load(SQLITEFILEPATH=tmp_path / "db.sqlite", VIDEODATAPATH=tmp_path / "data",
                             RUNPATH=tmp_path / "run")
    paths = ["/api/listDownloads", "/api/listSubscriptions", "/api/getVideoDownloadPublicURL?videoDownloadUUID=x"]
    client = api_module.create_app(settings).test_client()
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 418 and answer.get_json()["errorCode"] == "serviceUnavailable", path
        assert "does not exist yet" in answer.get_json()["errorMessage"]
    (tmp_path / "db.sqlite").write_bytes(b"not a database" * 100)
    client = api_module.create_app(settings).test_client()
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 418 and answer.get_json()["errorCode"] == "serviceUnavailable", path
        assert "cannot be read" in answer.get_json()["errorMessage"]


@pytest.mark.parametrize("variable,value,explanation", [
    ("PRT_VIDEODOWNLOADER_APIPORT", "eighty", "expected a whole number"),
    ("PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS", "0", "expected a whole number >= 1"),
    ("PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS", "10.0.0.0/8,not-a-network", "'not-a-network' does not appear to be"),
    ("PRT_VIDEODOWNLOADER_HTTPSBASEURL", "ftp://example.com", "must start with https://"),
    ("PRT_VIDEODOWNLOADER_YTDLPUPDATECHANNEL", "beta", "expected one of pinned, stable, nightly"),
])
def test_bad_setting_stops_startup_naming_the_variable(tmp_path, variable, value, explanation):
    env = {**os.environ, "PRT_VIDEODOWNLOADER_RUNPATH": str(tmp_path / "run"),
           "PRT_VIDEODOWNLOADER_SQLITEFILEPATH": str(tmp_path / "db.sqlite"),
           "PRT_VIDEODOWNLOADER_VIDEODATAPATH": str(tmp_path / "data"), variable: value}
    stack = subprocess.run([str(APP_DIR / "ops" / "run-stack")], env=env, capture_output=True, text=True,
                           timeout=60)
    assert stack.returncode == 2
    assert f"invalid setting {variable}={value!r}: {explanation}" in stack.stderr, stack.stderr
    assert not (tmp_path / "run" / "supervisor.sock").exists()  # supervisord never started
    service = subprocess.run([str(PYTHON), "-m", "services.dbwriter"], env=env, cwd=APP_DIR,
                             capture_output=True, text=True, timeout=60)
    assert service.returncode == 2 and variable in service.stderr


def test_settings_read_numbers_with_spaces_around_and_keep_text_as_given(monkeypatch):
    """As an env file may write them (`APIPORT=8080 `); secrets and URLs are not trimmed."""
    monkeypatch.setenv("PRT_VIDEODOWNLOADER_APIPORT", " 8081 ")
    monkeypatch.setenv("PRT_VIDEODOWNLOADER_WEBHOOKRETRYSECONDS", "2.5 ")
    monkeypatch.setenv("PRT_VIDEODOWNLOADER_WEBHOOKSECRET", " s3cret ")
    settings = Settings.load()
    assert (settings.APIPORT, settings.WEBHOOKRETRYSECONDS, settings.WEBHOOKSECRET) == (8081, 2.5, " s3cret ")


def test_parent_folders_are_created_at_start(tmp_path):
    settings_env = {**os.environ, "PRT_VIDEODOWNLOADER_RUNPATH": str(tmp_path / "a" / "run"),
                    "PRT_VIDEODOWNLOADER_SQLITEFILEPATH": str(tmp_path / "b" / "c" / "db.sqlite"),
                    "PRT_VIDEODOWNLOADER_VIDEODATAPATH": str(tmp_path / "d" / "data")}
    subprocess.run([str(PYTHON), "-m", "common.config", "check"], env=settings_env, cwd=APP_DIR, check=True)
    for folder in ("a/run", "b/c", "d/data", "d/data/.partial"):
        assert (tmp_path / folder).is_dir()


SHARED_PUSHER = """
import sys, threading
import zmq
from pathlib import Path
from common import bus
from common.config import Settings

folder = Path(sys.argv[1])
settings = Settings.load(SQLITEFILEPATH=folder / "db.sqlite", VIDEODATAPATH=folder / "data", RUNPATH=folder / "run")
settings.create_folders()
receiver = bus.bind(settings, "dbwriter-events", zmq.PULL)
pusher = bus.Pusher(settings, "dbwriter-events")
THREADS, EACH = 8, 20000

def send(thread):
    for n in range(EACH):
        pusher.send(bus.YtdlpExited(uuid=f"{thread}-{n}", returnCode=0))

threads = [threading.Thread(target=send, args=(t,)) for t in range(THREADS)]
for thread in threads:
    thread.start()
poller = zmq.Poller()
poller.register(receiver, zmq.POLLIN)
received = set()
while len(received) < THREADS * EACH and poller.poll(10_000):
    received.update(message.uuid for message in bus.drain(receiver, limit=100_000))
for thread in threads:
    thread.join()
print(len(received), THREADS * EACH)
"""


def test_one_pusher_shared_by_threads_delivers_every_message(tmp_path):
    """The runner's jobs and its main loop send on the same Pushers. A ZeroMQ socket used by two threads at once
    loses messages or aborts the process (libzmq's 'Assertion failed: check ()', in most runs of this test
    without the Pusher's lock); with it, every message arrives once."""
    result = subprocess.run([str(PYTHON), "-c", SHARED_PUSHER, str(tmp_path)], capture_output=True, text=True,
                            timeout=120, cwd=APP_DIR)
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    received, sent = result.stdout.split()
    assert received == sent
