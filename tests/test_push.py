"""Push (issue 16) against the real stack: the event stream on the API port and through nginx, reconnection
with Last-Event-ID (also across DB writer restarts), waitForDownload, 200 waiters, and signed webhooks from
the database outbox (retried while the receiver fails, delivered once, surviving a kill -9 of the sender)."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.stack import Stack, wait_for

SECRET = "test-webhook-secret"
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


@pytest.fixture(scope="module")
def stack():
    with Stack(PRT_VIDEODOWNLOADER_WEBHOOKSECRET=SECRET, PRT_VIDEODOWNLOADER_WEBHOOKRETRYSECONDS="0.3",
               PRT_VIDEODOWNLOADER_WEBHOOKMAXATTEMPTS="4", PRT_VIDEODOWNLOADER_EVENTSKEPT="40") as running:
        yield running
    shutil.rmtree(running.folder, ignore_errors=True)


class EventStream:
    """An /api/events client reading in a thread of its own; events are dicts with id, event and data."""

    def __init__(self, url: str, last_event_id: str | None = None, verify=True):
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        self.response = requests.get(url, stream=True, timeout=60, headers=headers, verify=verify)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.events: list[dict] = []
        self.comments: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        wait_for(lambda: "connected" in self.comments, timeout=10, message="the stream to open")

    def _read(self) -> None:
        current: dict = {}
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line == "":
                    if "data" in current:
                        self.events.append({"id": current.get("id"), "event": current.get("event", "message"),
                                            "data": json.loads(current["data"])})
                    current = {}
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    current[name] = value.removeprefix(" ")
        except (requests.RequestException, AttributeError, ValueError):
            pass  # closed by the test

    def of(self, uuid: str) -> list[dict]:
        return [event for event in self.events if event["data"].get("downloadUUID") == uuid]

    def close(self) -> None:
        """Shuts the connection down under the reading thread (Response.close waits for the next chunk)."""
        try:
            self.response.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.response.close()
        self.thread.join(10)


def statuses(events: list[dict]) -> list[str]:
    collapsed = []
    for event in events:
        if not collapsed or collapsed[-1] != event["data"]["downloadStatus"]:
            collapsed.append(event["data"]["downloadStatus"])
    return collapsed


def committed_event_ids(stack: Stack) -> set[int]:
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM events")}


def test_events_arrive_in_order_on_the_api_port_and_through_nginx_only_after_commit(stack, media):
    direct = EventStream(f"{stack.api}/api/events")
    proxied = EventStream(f"{stack.https}/api/events", verify=stack.ca)
    committed_when_seen = []

    def check_committed():  # every event a client has seen is already in the database
        seen = {int(event["id"]) for event in direct.events}
        committed_when_seen.append(seen <= committed_event_ids(stack))
    try:
        started = time.monotonic()
        uuid = stack.start_download(f"{media.url}/slow/long.mp4")
        wait_for(lambda: check_committed() or any(e["data"]["downloadStatus"] == "COMPLETED" for e in direct.of(uuid)),
                 timeout=60, message="COMPLETED on the API port")
        duration = time.monotonic() - started
        wait_for(lambda: any(e["data"]["downloadStatus"] == "COMPLETED" for e in proxied.of(uuid)), timeout=10,
                 message="COMPLETED through nginx")
        for stream in (direct, proxied):
            ids = [int(event["id"]) for event in stream.of(uuid)]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            assert statuses(stream.of(uuid)) == ["PENDING", "DOWNLOADING", "COMPLETED"]
        assert [e["id"] for e in direct.of(uuid)] == [e["id"] for e in proxied.of(uuid)]
        assert all(committed_when_seen)
        events = direct.of(uuid)
        assert events[0]["data"]["videoURL"].endswith("/slow/long.mp4")  # the first event is the whole item
        progress = [e for e in events if e["data"]["downloadStatus"] == "DOWNLOADING" and "progress" in e["data"]]
        assert len(progress) >= 3, events  # progress is pushed while it downloads...
        assert len(progress) <= duration * 4 + 2, (len(progress), duration)  # ...coalesced to a few per second
        assert [p["data"]["progress"] for p in progress] == sorted(p["data"]["progress"] for p in progress)
        assert events[-1]["data"]["fileName"] and events[-1]["data"]["progress"] == 100  # status events: whole state
        assert events[-1]["data"]["etaSeconds"] is None
        item = stack.download(uuid)
        assert "callbackStatus" not in item  # no callbackURL, no webhook
    finally:
        direct.close()
        proxied.close()


def test_reconnecting_with_last_event_id_replays_what_was_missed_also_across_db_writer_restarts(stack, media):
    stream = EventStream(f"{stack.api}/api/events")
    first = stack.start_download(f"{media.url}/clip.mp4")
    wait_for(lambda: any(e["data"]["downloadStatus"] == "COMPLETED" for e in stream.of(first)), timeout=60,
             message="the first download")
    last_seen = stream.events[-1]["id"]
    stream.close()

    os.kill(stack.pid("dbwriter"), signal.SIGKILL)  # ids must go on from the database, not from memory
    wait_for(lambda: stack.all_running(), timeout=30, message="the DB writer restarted")
    missed = stack.start_download(f"{media.url}/clip.mp4")
    stack.wait_until_final(missed)

    again = EventStream(f"{stack.api}/api/events", last_event_id=last_seen)
    try:
        wait_for(lambda: any(e["data"]["downloadStatus"] == "COMPLETED" for e in again.of(missed)), timeout=10,
                 message="the missed events replayed")
        ids = [int(event["id"]) for event in again.events]
        assert ids[0] == int(last_seen) + 1 and ids == list(range(ids[0], ids[0] + len(ids)))
        assert statuses(again.of(missed)) == ["PENDING", "DOWNLOADING", "COMPLETED"]
        assert not again.of(first)  # nothing the client had already seen
        later = stack.start_download(f"{media.url}/clip.mp4")  # live events follow the replay
        wait_for(lambda: any(e["data"]["downloadStatus"] == "COMPLETED" for e in again.of(later)), timeout=60,
                 message="live events after the replay")
        assert [int(e["id"]) for e in again.events] == list(range(ids[0], ids[0] + len(again.events)))
    finally:
        again.close()


def test_a_client_older_than_the_kept_window_is_told_to_reload(stack, media):
    for _ in range(25):  # EVENTSKEPT is 40 here: create + cancel are two events each
        uuid = stack.start_download(f"{media.url}/stall/long.mp4")
        requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": uuid}, timeout=10)
    for last_event_id in ("0", "not-a-number", "999999999"):
        stream = EventStream(f"{stack.api}/api/events", last_event_id=last_event_id)
        try:
            wait_for(lambda: stream.events, timeout=10, message="the reload event")
            assert stream.events[0]["event"] == "reload"
            newest = max(committed_event_ids(stack))
            assert int(stream.events[0]["id"]) <= newest
        finally:
            stream.close()


def test_wait_for_download_answers_at_completion_at_cancellation_and_at_the_timeout(stack, media):
    wait_url = f"{stack.api}/api/waitForDownload"
    uuid = stack.start_download(f"{media.url}/slow/long.mp4")
    started = time.monotonic()
    response = requests.get(wait_url, params={"videoDownloadUUID": uuid, "timeoutSeconds": 120}, timeout=130)
    assert response.status_code == 200, response.text
    assert response.json()["downloadStatus"] == "COMPLETED" and response.json()["fileName"]
    assert time.monotonic() - started < 60
    assert response.json() == stack.download(uuid)  # the listDownloads item, as it is now

    stalled = stack.start_download(f"{media.url}/stall/long.mp4")
    wait_for(lambda: stack.download(stalled)["downloadStatus"] == "DOWNLOADING", timeout=30, message="DOWNLOADING")
    started = time.monotonic()
    response = requests.get(f"{stack.https}/api/waitForDownload", params={"videoDownloadUUID": stalled,
                            "timeoutSeconds": 2}, timeout=30, verify=stack.ca)  # through nginx
    assert response.status_code == 200 and response.json()["downloadStatus"] == "DOWNLOADING"
    assert 1.9 < time.monotonic() - started < 10

    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(requests.get, wait_url, params={"videoDownloadUUID": stalled, "timeoutSeconds": 120},
                              timeout=130)
        wait_for(lambda: established_connections(stack.api_port) >= 1, timeout=10, message="the waiter connected")
        started = time.monotonic()
        requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": stalled}, timeout=10)
        assert waiting.result(timeout=30).json()["downloadStatus"] == "CANCELLED"
        assert time.monotonic() - started < 10  # at the cancellation, not at the timeout

    for params, code in (({"videoDownloadUUID": "no-such-download", "timeoutSeconds": 5}, "downloadNotFound"),
                         ({"videoDownloadUUID": uuid, "timeoutSeconds": 301}, "invalidParameters"),
                         ({"timeoutSeconds": 5}, "invalidParameters")):
        response = requests.get(wait_url, params=params, timeout=30)
        assert response.status_code == 418 and response.json()["errorCode"] == code, response.text


def test_two_hundred_waiters_and_ordinary_calls_are_all_served_at_once(stack, media):
    uuid = stack.start_download(f"{media.url}/stall/long.mp4")
    wait_for(lambda: stack.download(uuid)["downloadStatus"] == "DOWNLOADING", timeout=30, message="DOWNLOADING")
    api_pid = stack.pid("api")
    with ThreadPoolExecutor(260) as pool:
        waiters = [pool.submit(requests.get, f"{stack.api}/api/waitForDownload",
                               params={"videoDownloadUUID": uuid, "timeoutSeconds": 120}, timeout=130)
                   for _ in range(200)]
        wait_for(lambda: established_connections(stack.api_port) >= 200, timeout=30, message="200 waiters connected")
        assert not any(waiter.done() for waiter in waiters)
        started = time.monotonic()
        calls = [pool.submit(requests.get, f"{stack.api}/api/{path}", timeout=10)
                 for path in ("hello", "listDownloads", "health") * 10]
        assert all(call.result().status_code == 200 for call in calls)
        assert time.monotonic() - started < 10  # ordinary calls are not queued behind the waiters
        threads = thread_counts(api_pid)
        assert max(threads) < 20, threads  # no thread per waiter
        requests.post(f"{stack.api}/api/cancelDownload", json={"videoDownloadUUID": uuid}, timeout=10)
        answers = [waiter.result(timeout=30) for waiter in waiters]
    assert all(a.status_code == 200 and a.json()["downloadStatus"] == "CANCELLED" for a in answers)


def established_connections(port: int) -> int:
    """Client connections the API's listening port has accepted (both directions of loopback counted once)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def thread_counts(api: int) -> list[int]:
    """Threads of each API process: the API's own and its workers' if it has any (APIWORKERS > 1)."""
    from tests.stack import descendants
    counts = []
    for pid in [api, *descendants(api)]:
        try:
            counts.append(len(os.listdir(f"/proc/{pid}/task")))
        except OSError:
            pass
    return counts


# --- webhooks ---------------------------------------------------------------------------------------------------

class Receiver(ThreadingHTTPServer):
    """A webhook receiver on loopback: answers each POST with the next code of `answers` (the last one
    repeats) and records every request."""

    def __init__(self, answers: list[int]):
        self.answers, self.requests = list(answers), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                code = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                self.send_response(code)
                if code in (301, 302, 307):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def initiate_with_callback(stack: Stack, video_url: str, callback: str) -> requests.Response:
    return requests.post(f"{stack.api}/api/initiateDownload", json={"videoURL": video_url, "callbackURL": callback},
                         timeout=30)


def test_webhook_is_retried_while_the_receiver_answers_503_then_delivered_once_and_signed(stack, media):
    receiver = Receiver([503, 503, 200])
    try:
        response = initiate_with_callback(stack, f"{media.url}/clip.mp4", receiver.url)
        assert response.status_code == 200, response.text
        uuid = response.json()["downloadUUID"]
        item = wait_for(lambda: (i := stack.download(uuid)) and i.get("callbackStatus", {}).get("state") == "delivered"
                        and i, timeout=60, message="the webhook delivered")
        assert item["callbackStatus"]["attempts"] == 3
        paths = {path for path, _, _ in receiver.requests}
        time.sleep(2)  # several retry intervals (0.3 s): nothing more may come once a 2xx was received
        assert len(receiver.requests) == 3 and paths == {"/hook"}
        bodies = {body for _, _, body in receiver.requests}
        assert len(bodies) == 1  # the same delivery each time
        path, headers, body = receiver.requests[-1]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-PRT-Signature"] == expected
        assert headers["Content-Type"] == "application/json"
        sent = json.loads(body)
        assert sent["downloadUUID"] == uuid and sent["downloadStatus"] == "COMPLETED"
        assert sent["publicURL"] == f"{stack.https}/videodownloader/{item['fileName']}"
        assert requests.get(sent["publicURL"], verify=stack.ca, timeout=10).status_code == 200
    finally:
        receiver.close()


def test_webhook_gives_up_after_the_limit_and_never_follows_redirects(stack, media):
    receiver = Receiver([302])
    try:
        uuid = initiate_with_callback(stack, f"{media.url}/missing.mp4", receiver.url).json()["downloadUUID"]
        item = wait_for(lambda: (i := stack.download(uuid)) and i.get("callbackStatus", {}).get("state") == "failed"
                        and i, timeout=60, message="the webhook given up")
        assert item["downloadStatus"] == "FAILED"
        assert item["callbackStatus"]["attempts"] == 4 and "302" in item["callbackStatus"]["lastError"]
        assert [path for path, _, _ in receiver.requests] == ["/hook"] * 4  # /elsewhere never asked
        assert json.loads(receiver.requests[0][2])["downloadStatus"] == "FAILED"
        assert "publicURL" not in json.loads(receiver.requests[0][2])
    finally:
        receiver.close()


def test_refused_callback_urls_change_nothing(stack, media):
    before = stack.row_count()
    for callback in ("http://169.254.169.254/latest/meta-data", "ftp://127.0.0.1/hook", "not a url",
                     "http://[fe80::1]/hook"):
        response = initiate_with_callback(stack, f"{media.url}/clip.mp4", callback)
        assert response.status_code == 418, response.text
        assert response.json()["errorCode"] == "invalidCallbackURL", response.text
    assert stack.row_count() == before


def test_webhook_outbox_survives_a_kill_9_of_the_sending_service(stack, media):
    receiver = Receiver([503])
    try:
        uuid = initiate_with_callback(stack, f"{media.url}/clip.mp4", receiver.url).json()["downloadUUID"]
        wait_for(lambda: len(receiver.requests) >= 2, timeout=60, message="failed attempts")
        sender = stack.pid("scheduler")  # the publisher's webhook thread runs in the scheduler's process
        os.kill(sender, signal.SIGKILL)
        receiver.answers = [200]
        wait_for(lambda: stack.pid("scheduler") not in (None, sender) and stack.all_running(), timeout=30,
                 message="the scheduler (and its publisher) restarted")
        item = wait_for(lambda: (i := stack.download(uuid)) and i.get("callbackStatus", {}).get("state") == "delivered"
                        and i, timeout=60, message="the webhook delivered after the restart")
        delivered = len(receiver.requests)
        time.sleep(2)  # several retry intervals: a delivered webhook is not sent again
        assert len(receiver.requests) == delivered
        assert item["callbackStatus"]["attempts"] <= delivered
        assert len({body for _, _, body in receiver.requests}) == 1
    finally:
        receiver.close()


def test_an_idempotency_key_names_one_callback_url(stack, media):
    receiver = Receiver([200])
    try:
        key = {"Idempotency-Key": f"push-{time.time_ns()}"}
        body = {"videoURL": f"{media.url}/clip.mp4", "callbackURL": receiver.url}
        first = requests.post(f"{stack.api}/api/initiateDownload", json=body, headers=key, timeout=30)
        again = requests.post(f"{stack.api}/api/initiateDownload", json=body, headers=key, timeout=30)
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        other = requests.post(f"{stack.api}/api/initiateDownload", headers=key, timeout=30,
                              json={**body, "callbackURL": receiver.url + "/other"})
        assert other.status_code == 418 and other.json()["errorCode"] == "idempotencyKeyConflict"
        wait_for(lambda: stack.download(first.json()["downloadUUID"]).get("callbackStatus", {}).get("state")
                 == "delivered", timeout=60, message="the one webhook delivered")
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


def test_events_can_carry_every_field_of_a_listed_download():
    """The DB writer, which does not load the API's schemas, names the same item fields as listDownloads."""
    from common.items import ITEM_FIELDS
    from services.api.schemas import DownloadItem

    assert ITEM_FIELDS == set(DownloadItem.model_fields)
