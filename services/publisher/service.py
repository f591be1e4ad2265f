"""The publisher: the one process that publishes and unpublishes finished files.

It uploads each COMPLETED download to the S3 bucket (RustFS in the deployment), removes the files and S3
objects of deleted downloads, and applies the retention period. Its work lists are the database (COMPLETED
rows without an upload, finished rows past retention), so nothing is lost across restarts; messages on the
bus only make it act sooner. Failed uploads are retried with exponential backoff, each failure recorded.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

import zmq
from sqlalchemy import select

from common import bus, metrics, s3
from common.config import Settings, load_settings
from common.db import ReadOnlyDatabase
from common.lifecycle import exit_with_supervisor
from common.logs import setup_logging
from common.models import FINISHED_STATUSES, Download, DownloadStatusEnum, utcnow

log = logging.getLogger("publisher")

RESCAN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 300.0


class Publisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.inbox = bus.bind(settings, "publisher", zmq.PULL)
        self.requester = bus.Requester(settings)
        self.alive = bus.Heartbeat(settings, "publisher")
        self.s3 = s3.client(settings) if settings.s3_enabled else None
        self.database = ReadOnlyDatabase(settings.SQLITEFILEPATH)
        self.bucket_ready = False
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.retention = timedelta(hours=settings.RETENTIONHOURS)
        self.next_sweep = 0.0

    # --- uploads -------------------------------------------------------------------------------------------
    def pending_uploads(self) -> list[tuple[str, str]]:
        session = self.database.session() if self.s3 is not None else None
        if session is None:
            return []
        with session:
            return session.execute(
                select(Download.uuid, Download.fileName)
                .where(Download.status == DownloadStatusEnum.COMPLETED, Download.s3UploadedAt.is_(None))
                .order_by(Download.id).limit(50)).all()

    def publish_pending(self) -> float:
        """Uploads what is due; returns how long the main loop may wait before something else is due."""
        now = time.monotonic()
        next_due = now + RESCAN_SECONDS
        for uuid, file_name in self.pending_uploads():
            due = self.retry_at.get(uuid, 0.0)
            if due <= now:
                self.publish(uuid, file_name)
            if uuid in self.retry_at:
                next_due = min(next_due, self.retry_at[uuid])
        return max(0.0, next_due - time.monotonic())

    def publish(self, uuid: str, file_name: str) -> None:
        try:
            if not self.bucket_ready:
                s3.ensure_bucket(self.s3, self.settings.S3BUCKET)
                self.bucket_ready = True
            s3.upload(self.s3, self.settings.S3BUCKET, file_name, self.settings.VIDEODATAPATH / file_name)
        except Exception as error:  # network, credentials, missing file: recorded, retried later
            metrics.S3_UPLOADS.labels("failed").inc()
            failures = self.failures.get(uuid, 0) + 1
            self.failures[uuid] = failures
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** failures)
            self.retry_at[uuid] = time.monotonic() + delay
            self.bucket_ready = False
            message = f"{type(error).__name__}: {error}"[:500]
            log.warning("download=%s upload failed (retry in %.0f s): %s", uuid, delay, message)
            self.requester.request_until_answered(bus.RecordUploadFailure(uuid=uuid, error=message))
            return
        metrics.S3_UPLOADS.labels("uploaded").inc()
        self.retry_at.pop(uuid, None)
        self.failures.pop(uuid, None)
        self.requester.request_until_answered(bus.RecordUpload(uuid=uuid, s3Key=file_name))
        log.info("download=%s uploaded to s3://%s/%s", uuid, self.settings.S3BUCKET, file_name)

    # --- deletions and retention ---------------------------------------------------------------------------
    def purge(self, uuid: str, s3_key: str | None) -> None:
        """Removes a deleted download's S3 object and files (its row is already gone)."""
        if s3_key and self.s3 is not None:
            try:
                self.s3.delete_object(Bucket=self.settings.S3BUCKET, Key=s3_key)
            except Exception as error:
                log.warning("download=%s could not delete s3://%s/%s: %s", uuid, self.settings.S3BUCKET, s3_key,
                            error)
        removed = self.settings.remove_download_files(uuid)
        log.info("download=%s purged: files %s, S3 object %s", uuid, removed or "none", s3_key or "none")

    def sweep_retention(self) -> None:
        if not self.retention or time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + min(60.0, max(1.0, self.retention.total_seconds() / 4))
        session = self.database.session()
        if session is None:
            return
        cutoff = utcnow() - self.retention
        with session:
            expired = session.execute(
                select(Download.uuid, Download.status).where(
                    Download.status.in_(FINISHED_STATUSES), Download.finishedAt < cutoff)
                .order_by(Download.id).limit(200)).all()
        for uuid, status in expired:
            reply = self.requester.request_until_answered(bus.DeleteDownload(uuid=uuid))
            if reply is not None and reply.ok:
                log.info("retention: download=%s (%s, finished more than %g h ago) deleted", uuid, status.value,
                         self.settings.RETENTIONHOURS)
                self.purge(uuid, reply.s3Key)

    def run_forever(self) -> None:
        log.info("ready: S3 %s, retention %s", f"{self.settings.S3ENDPOINTURL} bucket {self.settings.S3BUCKET}"
                 if self.s3 else "off", f"{self.settings.RETENTIONHOURS:g} h" if self.retention else "forever")
        wait = 0.0
        while True:
            wait = min(wait, self.alive.beat())
            if self.inbox.poll(wait * 1000):
                for message in bus.drain(self.inbox):
                    if isinstance(message, bus.PurgeFiles):
                        self.purge(message.uuid, message.s3Key)
            try:
                self.sweep_retention()
                wait = self.publish_pending()
            except Exception as error:
                log.warning("scan postponed: %s", error)
                wait = RESCAN_SECONDS
            if self.retention:
                wait = min(wait, max(0.0, self.next_sweep - time.monotonic()))


def main() -> None:
    exit_with_supervisor()
    setup_logging("publisher")
    Publisher(load_settings()).run_forever()
