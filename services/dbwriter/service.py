"""The DB writer: the only process that writes the SQLite file.

It drains whatever commands and events are waiting, applies them in one transaction, commits, and only
then answers the commands (group commit): callers never hear "ok" for something that is not on disk.
"""
from __future__ import annotations

import logging
import time

import zmq
from sqlalchemy import select
from sqlalchemy.orm import Session

from common import bus, metrics
from common.config import Settings, load_settings
from common.db import session_factory, upgrade_schema, writer_engine
from common.lifecycle import exit_with_supervisor
from common.logs import setup_logging
from common.models import ONGOING_STATUSES, RETRYABLE_STATUSES, Download, DownloadStatusEnum, utcnow

log = logging.getLogger("dbwriter")

MAX_BATCH = 1000
NOT_FOUND = {"ok": False, "errorCode": "downloadNotFound", "error": "no such download"}


class DBWriter:
    def __init__(self, settings: Settings):
        self.engine = writer_engine(settings.SQLITEFILEPATH)
        upgrade_schema(self.engine)
        self.sessions = session_factory(self.engine)
        self.commands = bus.bind(settings, "dbwriter-commands", zmq.ROUTER)
        self.events = bus.bind(settings, "dbwriter-events", zmq.PULL)
        self.poller = zmq.Poller()
        self.poller.register(self.commands, zmq.POLLIN)
        self.poller.register(self.events, zmq.POLLIN)
        self.seen: dict[str, float] = {}

    def run_forever(self) -> None:
        log.info("ready: database %s", self.engine.url.database)
        while True:
            if self.poller.poll(1000):
                self.process_waiting()

    def _waiting_commands(self) -> list[list[bytes]]:
        frames = []
        while len(frames) < MAX_BATCH:
            try:
                frames.append(self.commands.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
        return frames

    def process_waiting(self) -> None:
        requests = []
        for identity, *_, payload in self._waiting_commands():
            try:
                requests.append((identity, bus.Envelope.model_validate_json(payload)))
            except ValueError as error:
                log.warning("malformed command dropped: %s", str(error).splitlines()[0])
        progress: dict[str, bus.ProgressUpdate] = {}
        for event in bus.drain(self.events, limit=MAX_BATCH):
            if isinstance(event, bus.ProgressUpdate):
                progress[event.uuid] = event
            elif isinstance(event, bus.ServiceHeartbeat):
                self.seen[event.service] = time.time()
        if not requests and not progress:
            return
        replies = []
        started = time.perf_counter()
        try:
            with self.sessions.begin() as session:
                for identity, envelope in requests:
                    replies.append((identity, self.apply(session, envelope)))
                for event in progress.values():
                    self.apply_progress(session, event)
            metrics.DBWRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
        except Exception as error:  # the batch is rolled back: nobody may be told it succeeded
            log.error("commit failed, batch of %d commands rolled back: %s", len(requests), error)
            replies = [(identity, bus.Reply(requestId=envelope.requestId, ok=False, error=f"database error: {error}"))
                       for identity, envelope in requests]
        for identity, reply in replies:
            self.commands.send_multipart([identity, b"", bus.encode(reply)])

    def apply(self, session: Session, envelope: bus.Envelope) -> bus.Reply:
        command = envelope.body
        handler = getattr(self, "on_" + command.type, None)
        if handler is None:
            return bus.Reply(requestId=envelope.requestId, ok=False, error=f"not a command: {command.type}")
        return bus.Reply(requestId=envelope.requestId, **handler(session, command))

    @staticmethod
    def _row(session: Session, uuid: str) -> Download | None:
        return session.execute(select(Download).where(Download.uuid == uuid)).scalar_one_or_none()

    def on_Ping(self, session, command: bus.Ping):
        return {"ok": True, "seen": {service: time.time() - at for service, at in self.seen.items()}}

    @staticmethod
    def _finished(row: Download, status: DownloadStatusEnum) -> None:
        row.status = status
        row.finishedAt = utcnow()
        row.speedBytesPerSecond, row.etaSeconds = None, None
        metrics.DOWNLOADS_FINISHED.labels(status.value).inc()
        if status == DownloadStatusEnum.COMPLETED:
            if row.startedAt is not None:
                metrics.DOWNLOAD_DURATION.observe((row.finishedAt - row.startedAt).total_seconds())
            if row.sizeInBytes is not None:
                metrics.DOWNLOAD_SIZE.observe(row.sizeInBytes)

    def on_CancelDownload(self, session, command: bus.CancelDownload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        if row.status not in ONGOING_STATUSES:
            return {"ok": False, "errorCode": "downloadNotOngoing",
                    "error": f"the download is already {row.status.value}", "status": row.status.value}
        previous = row.status.value
        self._finished(row, DownloadStatusEnum.CANCELLED)
        log.info("download=%s CANCELLED (was %s)", row.uuid, previous)
        return {"ok": True, "status": previous}

    def on_DeleteDownload(self, session, command: bus.DeleteDownload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        reply = {"ok": True, "status": row.status.value, "fileName": row.fileName, "s3Key": row.s3Key}
        session.delete(row)
        log.info("download=%s deleted (was %s)", row.uuid, row.status.value)
        return reply

    def on_RetryDownload(self, session, command: bus.RetryDownload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        if row.status not in RETRYABLE_STATUSES:
            return {"ok": False, "errorCode": "downloadNotRetryable",
                    "error": f"only FAILED or CANCELLED downloads can be retried; this one is {row.status.value}"}
        row.status = DownloadStatusEnum.PENDING
        row.errorMessage, row.progress, row.finishedAt, row.sizeInBytes = None, None, None, None
        log.info("download=%s PENDING again: retry after %d attempts", row.uuid, row.attempts)
        return {"ok": True, "status": row.status.value, "attempt": row.attempts}

    def on_CreateDownload(self, session, command: bus.CreateDownload):
        if command.deadline < time.time():
            return {"ok": False, "error": "request expired before it could be stored"}
        if self._row(session, command.uuid) is not None:
            return {"ok": False, "error": "uuid already exists"}
        session.add(Download(uuid=command.uuid, videoURL=command.videoURL, ytdlpParameters=command.ytdlpParameters,
                             status=DownloadStatusEnum.PENDING, attempts=0))
        log.info("download=%s created PENDING url=%s", command.uuid, command.videoURL)
        return {"ok": True}

    def on_StartAttempt(self, session, command: bus.StartAttempt):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        if row.status not in ONGOING_STATUSES:
            return {"ok": False, "error": f"download is {row.status.value}"}
        row.attempts += 1
        row.status = DownloadStatusEnum.DOWNLOADING
        row.startedAt = utcnow()
        row.progress, row.sizeInBytes, row.speedBytesPerSecond, row.etaSeconds = 0.0, None, None, None
        log.info("download=%s DOWNLOADING attempt=%d", row.uuid, row.attempts)
        return {"ok": True, "attempt": row.attempts}

    def on_FinishDownload(self, session, command: bus.FinishDownload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        if row.status != DownloadStatusEnum.DOWNLOADING or row.attempts != command.attempt:
            log.info("download=%s stale result of attempt %d ignored (row is %s, attempt %d)",
                     row.uuid, command.attempt, row.status.value, row.attempts)
            return {"ok": True, "error": "stale attempt ignored", "attempt": row.attempts}
        if command.status == "COMPLETED":
            row.progress, row.sizeInBytes, row.fileName, row.errorMessage = 100.0, command.sizeInBytes, command.fileName, None
        else:
            row.errorMessage = command.errorMessage or "download failed"
        self._finished(row, DownloadStatusEnum(command.status))
        if row.status == DownloadStatusEnum.COMPLETED:
            log.info("download=%s COMPLETED file=%s size=%s", row.uuid, row.fileName, row.sizeInBytes)
        else:
            log.info("download=%s FAILED: %s", row.uuid, row.errorMessage)
        return {"ok": True, "attempt": row.attempts}

    def on_RequeueDownload(self, session, command: bus.RequeueDownload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        if row.status not in ONGOING_STATUSES:
            return {"ok": True, "error": f"download is {row.status.value}", "attempt": row.attempts}
        if row.attempts >= command.maxAttempts:
            row.errorMessage = f"gave up after {row.attempts} attempts: {command.reason}"
            self._finished(row, DownloadStatusEnum.FAILED)
            log.info("download=%s FAILED: %s", row.uuid, row.errorMessage)
        else:
            row.status = DownloadStatusEnum.PENDING
            row.progress, row.speedBytesPerSecond, row.etaSeconds = None, None, None
            log.info("download=%s PENDING again after attempt %d: %s", row.uuid, row.attempts, command.reason)
        return {"ok": True, "attempt": row.attempts}

    def on_RecordUpload(self, session, command: bus.RecordUpload):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        row.s3Key, row.s3UploadedAt, row.s3UploadError = command.s3Key, utcnow(), None
        row.s3UploadAttempts += 1
        log.info("download=%s uploaded to S3 key=%s", row.uuid, row.s3Key)
        return {"ok": True}

    def on_RecordUploadFailure(self, session, command: bus.RecordUploadFailure):
        row = self._row(session, command.uuid)
        if row is None:
            return NOT_FOUND
        row.s3UploadAttempts += 1
        row.s3UploadError = command.error
        log.info("download=%s S3 upload attempt %d failed: %s", row.uuid, row.s3UploadAttempts, command.error)
        return {"ok": True}

    def apply_progress(self, session: Session, event: bus.ProgressUpdate) -> None:
        row = self._row(session, event.uuid)
        if row is None or row.status != DownloadStatusEnum.DOWNLOADING or row.attempts != event.attempt:
            return
        row.progress = event.progress
        row.sizeInBytes = event.sizeInBytes
        row.speedBytesPerSecond = event.speedBytesPerSecond
        row.etaSeconds = event.etaSeconds


def main() -> None:
    exit_with_supervisor()
    setup_logging("dbwriter")
    settings = load_settings()
    DBWriter(settings).run_forever()
