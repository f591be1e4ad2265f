"""The DB writer: the only process that writes the SQLite file.

It drains whatever commands and events are waiting, applies them in one transaction, commits, and only
then answers the commands (group commit): callers never hear "ok" for something that is not on disk, and
nothing is committed for a caller who has given up (each command's deadline is checked once the batch holds
SQLite's write lock, just before the commit). It refuses to start while another DB writer holds the
database (a lock file beside it), and stops writing when the file at the path is no longer the one it has
open (deleted or replaced).
"""
from __future__ import annotations

import fcntl
import logging
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import zmq

from common import bus, metrics
from common.config import Settings, load_settings
from common.db import upgrade_schema_in_child, writer_connection
from common.lifecycle import exit_with_supervisor
from common.logs import setup_logging
from services.dbwriter import handlers
from services.dbwriter.changes import ChangeRecorder
from services.dbwriter.rows import transaction

log = logging.getLogger("dbwriter")

MAX_BATCH = 1000
COMMIT_MARGIN_SECONDS = 0.25  # a command must be flushed this long before its deadline to be committed
DATABASE_CHECK_SECONDS = 1.0


class DatabaseLocked(Exception):
    pass


def hold_database_lock(database: Path) -> int:
    """Takes the lock file beside the database for this process's lifetime (flock: released by the kernel
    when the process dies, however it dies); raises DatabaseLocked naming the holder."""
    path = database.with_name(database.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 1024, 0).decode(errors="replace").strip() or "an unknown process"
        os.close(fd)
        raise DatabaseLocked(f"another DB writer holds {path}: {holder}") from None
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()} since {started}\n".encode(), 0)
    return fd


@dataclass(frozen=True)
class FileIdentity:
    device: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "FileIdentity | None":
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        return cls(status.st_dev, status.st_ino)


@dataclass
class Request:
    identity: bytes
    envelope: bus.Envelope
    expires_at: float | None  # time.monotonic() after which it must not be committed

    @classmethod
    def received(cls, identity: bytes, envelope: bus.Envelope) -> "Request":
        deadlines = [d for d in (envelope.deadline, getattr(envelope.body, "deadline", None)) if d is not None]
        # the caller's wall-clock deadline, turned into this process's monotonic clock once, at receipt
        expires_at = (time.monotonic() + min(deadlines) - time.time() - COMMIT_MARGIN_SECONDS) if deadlines else None
        return cls(identity, envelope, expires_at)

    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() > self.expires_at

    def reply(self, **fields) -> bus.Reply:
        return bus.Reply(requestId=self.envelope.requestId, **fields)


class ExpiredInBatch(Exception):
    pass


class DBWriter:
    def __init__(self, settings: Settings):
        self.path = settings.SQLITEFILEPATH
        self.lock_fd = hold_database_lock(self.path)
        upgrade_schema_in_child(self.path, "dbwriter")
        self.connection = writer_connection(self.path)
        self.identity = FileIdentity.of(self.path)
        self.database_problem: str | None = None
        self.next_database_check = 0.0
        self.commands = bus.bind(settings, "dbwriter-commands", zmq.ROUTER)
        self.events = bus.bind(settings, "dbwriter-events", zmq.PULL)
        self.changes = ChangeRecorder(settings)
        self.poller = zmq.Poller()
        self.poller.register(self.commands, zmq.POLLIN)
        self.poller.register(self.events, zmq.POLLIN)
        self.seen: dict[str, float] = {}
        self.ytdlp: bus.YtdlpInfo | None = None  # as the runner last reported it

    def run_forever(self) -> None:
        log.info("ready: database %s (locked by this process)", self.path)
        while True:
            if self.poller.poll(DATABASE_CHECK_SECONDS * 1000):
                self.process_waiting()
            if time.monotonic() >= self.next_database_check:
                self.check_database_file()

    def check_database_file(self) -> str | None:
        """Notices when the file at the path is no longer the one this process has open: committing into a
        deleted file would lose every later row at the next restart, so writes stop (for good: the rows are
        only in the open file now)."""
        self.next_database_check = time.monotonic() + DATABASE_CHECK_SECONDS
        if self.database_problem is None:
            now = FileIdentity.of(self.path)
            if now != self.identity:
                what = "deleted" if now is None else "replaced by another file"
                self.database_problem = (
                    f"the database file {self.path} was {what} while the DB writer had it open; writes are "
                    f"refused so that nothing is committed into a file that is gone (see docs/reliability.md)")
                log.error("%s", self.database_problem)
        return self.database_problem

    def _waiting_commands(self) -> list[list[bytes]]:
        frames = []
        while len(frames) < MAX_BATCH:
            try:
                frames.append(self.commands.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        return frames

    def process_waiting(self) -> None:
        requests: list[Request] = []
        for identity, *_, payload in self._waiting_commands():
            try:
                requests.append(Request.received(identity, bus.decode_envelope(payload)))
            except ValueError as error:
                log.warning("malformed command dropped: %s", str(error).splitlines()[0])
        progress: dict[str, bus.ProgressUpdate] = {}
        for event in bus.drain(self.events, limit=MAX_BATCH):
            if isinstance(event, bus.ProgressUpdate):
                progress[event.uuid] = event
            elif isinstance(event, bus.YtdlpExited):
                metrics.YTDLP_EXIT_CODES.inc(str(event.returnCode))
            elif isinstance(event, bus.S3UploadAttempted):
                metrics.S3_UPLOADS.inc(event.result)
            elif isinstance(event, bus.ParameterChecked):
                metrics.PARAMETER_CHECKS.inc(event.by)
            elif isinstance(event, bus.ServiceHeartbeat):
                self.seen[event.service] = time.time()
                if event.ytdlp is not None:
                    self.ytdlp = event.ytdlp
        pings = [r for r in requests if isinstance(r.envelope.body, bus.Ping)]
        requests = [r for r in requests if not isinstance(r.envelope.body, bus.Ping)]
        replies = [(r.identity, self.ping(r)) for r in pings]
        if requests or progress:
            replies += self.commit(requests, progress)
        for identity, reply in replies:
            self.commands.send_multipart([identity, b"", bus.encode(reply)])

    def ping(self, request: Request) -> bus.Reply:
        problem = self.check_database_file()
        return request.reply(ok=problem is None, error=problem, errorCode="serviceUnavailable" if problem else None,
                             seen={service: time.time() - at for service, at in self.seen.items()},
                             ytdlp=self.ytdlp,
                             metrics=metrics.snapshot() if request.envelope.body.withMetrics else None)

    def commit(self, requests: list[Request], progress: dict[str, bus.ProgressUpdate]) -> list[tuple[bytes, bus.Reply]]:
        """Applies a batch in one transaction; commands whose caller gave up are left out (and the batch
        applied again without them when one expires while it is being applied)."""
        refused: list[tuple[bytes, bus.Reply]] = []
        while True:
            live = []
            for request in requests:
                if request.expired():
                    refused.append((request.identity, request.reply(
                        ok=False, errorCode="requestExpired", error="the caller's deadline passed; nothing changed")))
                else:
                    live.append(request)
            requests = live
            if self.check_database_file():
                return refused + [(r.identity, r.reply(ok=False, errorCode="serviceUnavailable",
                                                       error=self.database_problem)) for r in requests]
            started = time.perf_counter()
            try:
                with transaction(self.connection) as batch:  # holds SQLite's write lock from here to the commit
                    replies = [(r.identity, r.reply(**handlers.apply(batch, r.envelope.body))) for r in requests]
                    for event in progress.values():
                        handlers.apply_progress(batch, event)
                    changes = self.changes.pending_changes(batch)
                    batch.flush()  # ids and updatedAt for the events; all written before the check
                    announced = self.changes.record(batch, changes)
                    if any(r.expired() for r in requests):
                        raise ExpiredInBatch()
                    if self.check_database_file():
                        raise ExpiredInBatch()
                metrics.DBWRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
                handlers.run_after_commit(batch)
                self.changes.publish(announced)
                late = sum(r.expired() for r in requests)
                if late:  # frozen between the check and the end of the commit: visible, not silent
                    log.warning("%d commands were committed after their caller's deadline minus the margin", late)
                return refused + replies
            except ExpiredInBatch:
                continue  # rolled back; applied again without the expired commands (or refused, database gone)
            except sqlite3.OperationalError as error:  # locked, disk full, I/O: nothing committed, send again
                log.error("commit failed, batch of %d commands rolled back: %s", len(requests), error)
                return refused + [(r.identity, r.reply(ok=False, errorCode="serviceUnavailable",
                                                       error=f"database error, nothing changed: {error}"))
                                  for r in requests]
            except Exception as error:  # a command the code cannot apply: it alone is refused, for good
                if len(requests) > 1:
                    log.error("batch of %d commands failed (%s): applying them one by one", len(requests), error)
                    return refused + [reply for r in requests for reply in self.commit([r], {})]
                log.exception("command %s cannot be applied", requests[0].envelope.body.type if requests else "-")
                return refused + [(r.identity, r.reply(ok=False, errorCode="internalError",
                                                       error=f"the DB writer cannot apply this command: {error}"))
                                  for r in requests]


def main() -> None:
    exit_with_supervisor()
    setup_logging("dbwriter")
    settings = load_settings()
    try:
        writer = DBWriter(settings)
    except DatabaseLocked as error:
        log.error("%s; refusing to start: two stacks on one database would run downloads twice", error)
        raise SystemExit(3) from None
    writer.run_forever()
