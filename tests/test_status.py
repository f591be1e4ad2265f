"""Status that stays true at the edges (issue 14): real faults against the real stack: a frozen DB writer
(SIGSTOP), SQLite's write lock held by another connection, killed services, a second stack on the same
database, the database file deleted, slow S3 uploads, throttled downloads."""
from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid as uuidlib

import boto3
import requests
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.stack import APP_DIR, Stack, free_port, wait_for, ytdlp_processes


def post(stack: Stack, operation: str, uuid: str) -> requests.Response:
    return requests.post(f"{stack.api}/api/{operation}", json={"videoDownloadUUID": uuid}, timeout=30)


def rows_by_url(stack: Stack) -> dict[str, dict]:
    with sqlite3.connect(f"file:{stack.db}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        return {row["videoURL"]: dict(row) for row in connection.execute("SELECT * FROM downloads")}


def files_of(stack: Stack, uuid: str) -> list[str]:
    return [path.name for path in stack.data.glob(f"**/{uuid}*")]


# --- item 1: serviceUnavailable is true; Idempotency-Key ---------------------------------------------------

def test_calls_answered_service_unavailable_while_the_db_writer_is_frozen_store_nothing(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as stack:
        answers: dict[str, requests.Response] = {}
        lock = threading.Lock()

        def initiate(n: int) -> None:
            url = f"{media.url}/missing.mp4?frozen={n}"
            response = stack.initiate(url)
            with lock:
                answers[url] = response

        dbwriter = stack.pid("dbwriter")
        with concurrent.futures.ThreadPoolExecutor(max_workers=60) as pool:
            futures = [pool.submit(initiate, n) for n in range(300)]
            wait_for(lambda: len(answers) >= 20, message="the first answers")
            os.kill(dbwriter, signal.SIGSTOP)
            try:
                time.sleep(2.7)  # the fault itself: the DB writer frozen for 2.7 s
            finally:
                os.kill(dbwriter, signal.SIGCONT)
            for future in futures:
                future.result()
        rows = rows_by_url(stack)
        refused = [url for url, r in answers.items() if r.status_code == 418]
        assert refused, "the freeze produced no serviceUnavailable answer: the test proves nothing"
        assert all(answers[url].json()["errorCode"] == "serviceUnavailable" for url in refused)
        ghosts = [url for url in refused if url in rows]
        assert not ghosts, f"{len(ghosts)} of {len(refused)} calls answered serviceUnavailable were stored"
        for url, response in answers.items():
            if response.status_code == 200:
                assert rows[url]["uuid"] == response.json()["downloadUUID"]


def test_calls_answered_service_unavailable_while_sqlite_is_locked_store_nothing(media):
    with Stack() as stack:
        holder = sqlite3.connect(stack.db, timeout=10)
        holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held by a second connection
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
                calls = [pool.submit(stack.initiate, f"{media.url}/clip.mp4?locked={n}") for n in range(10)]
                answers = [call.result() for call in calls]  # the API gives up after 3 s
        finally:
            holder.rollback()  # released after 3 s, within the DB writer's 5 s busy timeout
            holder.close()
        assert all(r.status_code == 418 and r.json()["errorCode"] == "serviceUnavailable" for r in answers)
        after = stack.start_download(f"{media.url}/clip.mp4?after-lock")  # a commit happened since
        assert stack.wait_until_final(after)["downloadStatus"] == "COMPLETED"
        stored = [url for url in rows_by_url(stack) if "?locked=" in url]
        assert not stored, f"{len(stored)} calls answered serviceUnavailable were stored"


def test_idempotency_key_returns_the_same_download_and_never_a_second_one(stack, media):
    key = f"client-{uuidlib.uuid4()}"
    url = f"{media.url}/clip.mp4?idempotent={key}"

    def initiate(_n: int) -> requests.Response:
        return requests.post(f"{stack.api}/api/initiateDownload", json={"videoURL": url},
                             headers={"Idempotency-Key": key}, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(initiate, range(10)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    uuids = {r.json()["downloadUUID"] for r in responses}
    assert len(uuids) == 1
    assert stack.wait_until_final(uuids.pop())["downloadStatus"] == "COMPLETED"
    assert initiate(0).json()["downloadUUID"] == responses[0].json()["downloadUUID"]  # also once it is done
    assert sum(1 for row in rows_by_url(stack) if row == url) == 1
    conflict = requests.post(f"{stack.api}/api/initiateDownload", json={"videoURL": url + "&other"},
                             headers={"Idempotency-Key": key}, timeout=30)
    assert conflict.status_code == 418 and conflict.json()["errorCode"] == "idempotencyKeyConflict"
    assert url + "&other" not in rows_by_url(stack)
    document = requests.get(f"{stack.api}/openapi/openapi.json", timeout=10).json()
    parameters = document["paths"]["/api/initiateDownload"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" and not p.get("required")
               for p in parameters), parameters


# --- item 2: final states are retried until committed; attempts count runs ---------------------------------

def test_commands_delayed_by_a_locked_database_are_applied_once_and_attempts_count_runs(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="2") as stack:
        first = stack.start_download(f"{media.url}/slow/long.mp4?locked-first")
        wait_for(lambda: (stack.download(first).get("progress") or 0) > 20, timeout=60, message="progress")
        scheduler = stack.pid("scheduler")
        os.kill(scheduler, signal.SIGSTOP)  # so that the second download starts only once the lock is held
        try:
            second = stack.start_download(f"{media.url}/clip.mp4?locked-second")
            holder = sqlite3.connect(stack.db, timeout=10)
            holder.execute("BEGIN IMMEDIATE")  # SQLite's write lock, held by a second connection
        finally:
            os.kill(scheduler, signal.SIGCONT)
        try:
            wait_for(lambda: (stack.data / f"{first}.mp4").exists(), timeout=60,
                     message="yt-dlp to finish the first download")
            time.sleep(8)  # the fault: the lock stays held longer than the DB writer's 5 s busy timeout
        finally:
            holder.rollback()
            holder.close()
        items = wait_for(lambda: all((stack.download(u) or {}).get("downloadStatus") in ("COMPLETED", "FAILED")
                                     for u in (first, second)) and [stack.download(u) for u in (first, second)],
                         timeout=60, message="both downloads to reach a final state")
        assert [item["downloadStatus"] for item in items] == ["COMPLETED", "COMPLETED"], items
        assert [item["attempts"] for item in items] == [1, 1], items  # one yt-dlp run each


# --- item 3: deletes and cancels leave nothing behind -------------------------------------------------------

def test_delete_whose_message_dies_with_the_busy_publisher_still_removes_file_and_object(media):
    with SlowS3() as slow_s3, Stack(**slow_s3.settings) as stack:
        uuid = stack.start_download(f"{media.url}/clip.mp4?purge-after-restart")
        item = stack.wait_until_final(uuid)
        wait_for(lambda: stack.download(uuid)["s3Available"], timeout=30, message="the first upload")
        busy = stack.start_download(f"{media.url}/long.mp4?keeps-the-publisher-busy")
        stack.wait_until_final(busy)
        uploaded = slow_s3.proxy.uploaded
        wait_for(lambda: slow_s3.proxy.uploaded > uploaded + 100_000, timeout=30, message="the long upload")
        publisher = stack.pid("scheduler")  # the publisher's threads run in the scheduler's process
        assert post(stack, "deleteDownload", uuid).status_code == 200  # its message waits in the busy publisher
        os.kill(publisher, signal.SIGKILL)
        wait_for(lambda: stack.pid("scheduler") not in (None, publisher), timeout=30, message="a new publisher")
        wait_for(lambda: not files_of(stack, uuid), timeout=30, message="the deleted download's file to go")
        wait_for(lambda: f"{uuid}.mp4" not in slow_s3.keys(), timeout=60, message="the deleted download's object to go")
        wait_for(lambda: f"{busy}.mp4" in slow_s3.keys(), timeout=60, message="the other upload to complete")
        link = f"{stack.https}/videodownloader/{item['fileName']}"
        assert requests.get(link, verify=stack.ca, timeout=10).status_code == 404


def test_failed_after_max_attempts_keeps_no_partial_files(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXATTEMPTS="1") as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?gave-up")
        wait_for(lambda: (stack.download(uuid).get("progress") or 0) > 5, timeout=60, message="progress")
        assert files_of(stack, uuid)  # yt-dlp's partial file
        runner = stack.pid("runner")
        os.kill(runner, signal.SIGKILL)
        item = stack.wait_until_final(uuid, timeout=60)
        assert item["downloadStatus"] == "FAILED" and item["errorCode"] == "runnerLost"
        assert item["errorDetail"].startswith("gave up after 1 attempts: the runner"), item
        wait_for(lambda: not files_of(stack, uuid), timeout=30, message="the partial files to be removed")


def test_sweep_removes_files_no_download_owns_and_keeps_the_others(media):
    with Stack(PRT_VIDEODOWNLOADER_ORPHANFILEMINAGESECONDS="3",
               PRT_VIDEODOWNLOADER_MAXCONCURRENTDOWNLOADS="1") as stack:
        done = stack.start_download(f"{media.url}/clip.mp4?kept")
        assert stack.wait_until_final(done)["downloadStatus"] == "COMPLETED"
        running = stack.start_download(f"{media.url}/slow/long.mp4?kept-running")
        cancelled = stack.start_download(f"{media.url}/clip.mp4?cancelled-leftover")
        assert post(stack, "cancelDownload", cancelled).status_code == 200
        old = time.time() - 3600
        strays = [stack.data / f"{uuidlib.uuid4()}.mp4", stack.data / ".partial" / f"{uuidlib.uuid4()}.mp4.part",
                  stack.data / f"{cancelled}.mp4"]  # a COMPLETED-looking file of a CANCELLED download
        for stray in strays:
            stray.write_bytes(b"left behind")
            os.utime(stray, (old, old))
        fresh = stack.data / f"{uuidlib.uuid4()}.mp4"  # too young: may be about to be claimed
        fresh.write_bytes(b"just written")
        foreign = stack.data / "README.txt"  # not named like a download: not the service's to remove
        foreign.write_bytes(b"someone else's")
        os.utime(foreign, (old, old))
        wait_for(lambda: (stack.download(running).get("progress") or 0) > 1, timeout=60, message="progress")
        wait_for(lambda: not any(stray.exists() for stray in strays), timeout=30, message="the sweep")
        assert fresh.exists() and foreign.exists()
        assert (stack.data / f"{done}.mp4").exists()
        assert stack.wait_until_final(running)["downloadStatus"] == "COMPLETED"  # its partial file was kept


class ThrottlingProxy:
    """A TCP proxy on loopback that forwards client bytes slowly (an S3 upload taking many seconds)."""

    def __init__(self, target_port: int, bytes_per_second: int):
        self.target_port, self.rate = target_port, bytes_per_second
        self.uploaded = 0
        self.answered = 0  # bytes from the server back to the client (S3's answers)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, throttled: bool) -> None:
        try:
            while data := source.recv(4096 if throttled else 65536):
                if throttled:
                    self.uploaded += len(data)
                    time.sleep(len(data) / self.rate)
                else:
                    self.answered += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


class SlowS3:
    """moto's S3 server behind a ThrottlingProxy: the stack's uploads of long.mp4 take about 10 s."""

    def __enter__(self) -> "SlowS3":
        port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        self.server.start()
        self.proxy = ThrottlingProxy(port, bytes_per_second=150_000)
        self.client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                   aws_access_key_id="a", aws_secret_access_key="b",
                                   config=Config(s3={"addressing_style": "path"}))
        self.settings = {"PRT_VIDEODOWNLOADER_S3ENDPOINTURL": f"http://127.0.0.1:{self.proxy.port}",
                         "PRT_VIDEODOWNLOADER_S3ACCESSKEY": "a", "PRT_VIDEODOWNLOADER_S3SECRETKEY": "b"}
        return self

    def keys(self) -> list[str]:
        """Keys in the bucket (moto keeps one store per test process: other tests' objects may be there)."""
        return [item["Key"] for item in self.client.list_objects_v2(Bucket="prt-videodownloader").get("Contents", [])]

    def __exit__(self, *exc) -> None:
        self.proxy.close()
        self.server.stop()


def test_slow_upload_keeps_health_ok_and_a_delete_during_it_leaves_no_object(media, media_folder):
    size = (media_folder / "long.mp4").stat().st_size
    with SlowS3() as slow_s3, Stack(**slow_s3.settings) as stack:
        uuid = stack.start_download(f"{media.url}/long.mp4?slow-upload")
        assert stack.wait_until_final(uuid)["downloadStatus"] == "COMPLETED"
        wait_for(lambda: slow_s3.proxy.uploaded > size * 0.1, timeout=30, message="the upload to start")
        unhealthy = []
        while slow_s3.proxy.uploaded < size * 0.6:  # health sampled through the upload's first 60 %
            response = requests.get(f"{stack.api}/api/health", timeout=10)
            if response.status_code != 200:
                unhealthy.append(response.text)
            time.sleep(0.5)
        assert not unhealthy, unhealthy[:3]
        answered = slow_s3.proxy.answered
        assert post(stack, "deleteDownload", uuid).status_code == 200  # during the upload
        wait_for(lambda: slow_s3.proxy.uploaded >= size and slow_s3.proxy.answered > answered, timeout=60,
                 message="S3 to answer the upload")
        wait_for(lambda: f"{uuid}.mp4" not in slow_s3.keys(), timeout=30,
                 message="the object uploaded after the delete to be removed")
        wait_for(lambda: not files_of(stack, uuid), timeout=30, message="the files to go")


# --- item 6: one stack per database -------------------------------------------------------------------------

def test_a_second_stack_on_the_same_database_is_refused_and_reruns_nothing(media):
    with Stack() as first:
        uuid = first.start_download(f"{media.url}/slow/long.mp4?two-stacks")
        wait_for(lambda: (first.download(uuid).get("progress") or 0) > 1, timeout=60, message="progress")
        requests_before = media.requests.count("/slow/long.mp4?two-stacks")
        second = Stack(PRT_VIDEODOWNLOADER_SQLITEFILEPATH=str(first.db))
        log = open(second.log_path, "ab")  # started by hand: Stack.start would wait for a DB writer that must refuse
        second.process = subprocess.Popen([str(APP_DIR / "ops" / "run-stack")], env=second.env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        try:
            wait_for(lambda: "another DB writer holds" in second.logs(), timeout=60,
                     message="the second DB writer to refuse")
            line = next(l for l in second.logs().splitlines() if "another DB writer holds" in l)
            assert f"pid {first.pid('dbwriter')}" in line and socket.gethostname() in line, line
            assert first.wait_until_final(uuid, timeout=60)["downloadStatus"] == "COMPLETED"
            assert media.requests.count("/slow/long.mp4?two-stacks") == requests_before  # not re-run by the second
            assert not list(second.data.glob(f"**/{uuid}*"))
            assert first.all_running()
        finally:
            second.stop()


# --- item 7: the database file deleted while running --------------------------------------------------------

def test_database_file_deleted_while_running_makes_health_say_so_and_refuses_writes(media):
    with Stack() as stack:
        before = stack.start_download(f"{media.url}/clip.mp4?before-delete")
        stack.wait_until_final(before)
        stack.db.unlink()
        body = wait_for(lambda: (r := requests.get(f"{stack.api}/api/health", timeout=10)).status_code == 418
                        and r.json(), timeout=15, message="health to notice")
        assert body["errorCode"] == "unhealthy" and "database file" in body["errorMessage"], body
        response = stack.initiate(f"{media.url}/clip.mp4?after-delete")
        assert response.status_code == 418 and response.json()["errorCode"] == "serviceUnavailable"
        assert "/clip.mp4?after-delete" not in media.requests


# --- item 8 is in the slow-upload test above; items 9 and 10 --------------------------------------------------

def test_download_longer_than_max_duration_is_stopped_and_failed(media):
    with Stack(PRT_VIDEODOWNLOADER_MAXDOWNLOADSECONDS="2") as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?too-long")
        item = stack.wait_until_final(uuid, timeout=60)
        assert item["downloadStatus"] == "FAILED", item
        assert (item["errorCode"], item["retryable"]) == ("tooSlow", True), item
        assert item["errorMessage"] == "The download took longer than the 2 seconds allowed."
        assert "PRT_VIDEODOWNLOADER_MAXDOWNLOADSECONDS" in item["errorDetail"], item["errorDetail"]
        assert item["attempts"] == 1
        wait_for(lambda: not files_of(stack, uuid), timeout=10, message="the partial files to go")
        wait_for(lambda: "/slow/long.mp4?too-long" not in media.active, timeout=10, message="the transfer to stop")


def test_cancel_sends_sigterm_to_ytdlp_before_anything_harsher(media):
    with Stack() as stack:
        uuid = stack.start_download(f"{media.url}/slow/long.mp4?sigterm")
        wait_for(lambda: (stack.download(uuid).get("progress") or 0) > 1, timeout=60, message="progress")
        runner = stack.pid("runner")
        busy = [pid for pid in ytdlp_processes(runner=runner)
                if any(uuid in part for part in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
                       .split("\0")) or _has_open_file(pid, uuid)]
        assert len(busy) == 1, busy
        trace = stack.folder / "strace.txt"
        tracer = subprocess.Popen(["strace", "-e", "trace=none", "-e", "signal=all", "-o", str(trace), "-p",
                                   str(busy[0])], stderr=subprocess.PIPE)
        try:
            assert b"attached" in tracer.stderr.readline()
            assert post(stack, "cancelDownload", uuid).status_code == 200
            tracer.wait(30)
        finally:
            if tracer.poll() is None:
                tracer.kill()
        signals = [line for line in trace.read_text().splitlines() if line.startswith(("---", "+++"))]
        assert signals and "SIGTERM" in signals[0], signals
        wait_for(lambda: not files_of(stack, uuid), timeout=15, message="the partial files to go")


def _has_open_file(pid: int, uuid: str) -> bool:
    try:
        return any(uuid in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False
