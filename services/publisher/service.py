"""The publisher: uploads each COMPLETED download to the S3 bucket (RustFS in the deployment).

The work list is the database (COMPLETED rows without an upload), so nothing is lost across restarts;
the runner's DownloadCompleted message only makes it look sooner. Failed uploads are retried with
exponential backoff, each failure recorded in the row.
"""
from __future__ import annotations

import logging
import time

import zmq
from sqlalchemy import select

from common import bus, s3
from common.config import Settings, load_settings
from common.db import reader_engine, session_factory
from common.logs import setup_logging
from common.models import Download, DownloadStatusEnum

log = logging.getLogger("publisher")

RESCAN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 300.0


class Publisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.inbox = bus.bind(settings, "publisher", zmq.PULL)
        self.requester = bus.Requester(settings)
        self.s3 = s3.client(settings)
        self.sessions = None
        self.bucket_ready = False
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}

    def pending_uploads(self) -> list[tuple[str, str]]:
        if self.sessions is None:
            if not self.settings.SQLITEFILEPATH.exists():
                return []
            self.sessions = session_factory(reader_engine(self.settings.SQLITEFILEPATH))
        with self.sessions() as session:
            return session.execute(
                select(Download.uuid, Download.fileName)
                .where(Download.status == DownloadStatusEnum.COMPLETED, Download.s3UploadedAt.is_(None))
                .order_by(Download.id).limit(50)).all()

    def publish_pending(self) -> float:
        """Uploads what is due; returns how long the main loop may sleep before something else is due."""
        now = time.monotonic()
        next_due = now + RESCAN_SECONDS
        for uuid, file_name in self.pending_uploads():
            due = self.retry_at.get(uuid, 0.0)
            if due > now:
                next_due = min(next_due, due)
                continue
            self.publish(uuid, file_name)
            if uuid in self.retry_at:
                next_due = min(next_due, self.retry_at[uuid])
        return max(0.0, next_due - time.monotonic())

    def publish(self, uuid: str, file_name: str) -> None:
        path = self.settings.VIDEODATAPATH / file_name
        try:
            if not self.bucket_ready:
                s3.ensure_bucket(self.s3, self.settings.S3BUCKET)
                self.bucket_ready = True
            s3.upload(self.s3, self.settings.S3BUCKET, file_name, path)
        except Exception as error:  # network, credentials, missing file: recorded, retried later
            failures = self.failures.get(uuid, 0) + 1
            self.failures[uuid] = failures
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** failures)
            self.retry_at[uuid] = time.monotonic() + delay
            self.bucket_ready = False
            message = f"{type(error).__name__}: {error}"[:500]
            log.warning("download=%s upload failed (retry in %.0f s): %s", uuid, delay, message)
            self.requester.request_until_answered(bus.RecordUploadFailure(uuid=uuid, error=message))
            return
        self.retry_at.pop(uuid, None)
        self.failures.pop(uuid, None)
        self.requester.request_until_answered(bus.RecordUpload(uuid=uuid, s3Key=file_name))
        log.info("download=%s uploaded to s3://%s/%s", uuid, self.settings.S3BUCKET, file_name)

    def run_forever(self) -> None:
        log.info("ready: uploading to %s bucket %s", self.settings.S3ENDPOINTURL, self.settings.S3BUCKET)
        wait = 0.0
        while True:
            if self.inbox.poll(wait * 1000):
                while True:
                    try:
                        self.inbox.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            try:
                wait = self.publish_pending()
            except Exception as error:
                log.warning("scan postponed: %s", error)
                wait = RESCAN_SECONDS


def main() -> None:
    setup_logging("publisher")
    settings = load_settings()
    if not settings.s3_enabled:
        log.info("S3 publishing is off (PRT_VIDEODOWNLOADER_S3ENDPOINTURL is empty); idle")
        inbox = bus.bind(settings, "publisher", zmq.PULL)
        while True:  # stays up so that supervisord shows a steady state; drops the notices
            inbox.recv()
    Publisher(settings).run_forever()
