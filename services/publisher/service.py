"""The publisher: the one place that publishes and unpublishes finished files, threads of the scheduler's process.

It uploads each COMPLETED download to the S3 bucket (RustFS in the deployment), works through the purge
list (S3 objects and files of deleted, failed and cancelled downloads), applies the retention period,
sweeps files that no download owns, and (in a thread of its own: services/publisher/webhooks.py) sends the
webhooks of the outbox. Its work lists are the database (COMPLETED rows without an upload, the purge list the DB writer fills in the same transaction as a delete, finished rows past retention), so
nothing is lost across restarts; messages on the bus only make it act sooner. Failed uploads are retried
with exponential backoff, each failure recorded. Its work runs in threads of its own inside the scheduler's
process (services.scheduler), whose main loop sends the publisher's heartbeat while they live: a long upload
never makes it look dead, never holds up the queue, and a thread that died ends the process for supervisord
to restart (both work lists are the database). Sharing the process saves an interpreter (~11 MiB, issue 20).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import zmq

from common import bus
from common.config import Settings
from common.sqlite_reader import SQLiteReader, sql_time
from common.statuses import FINISHED_STATUSES, DownloadStatusEnum, utcnow
from common.ytdlp import THUMBNAIL_EXTENSION
from services.publisher import webhooks

log = logging.getLogger("publisher")

RESCAN_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 300.0
DOWNLOAD_FILE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


def thumbnail_name(uuid: str) -> str:
    """The one name a download's thumbnail can have (common.ytdlp: the runner keeps no other)."""
    return f"{uuid}.{THUMBNAIL_EXTENSION}"


class Publisher:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.inbox = bus.bind(settings, "publisher", zmq.PULL)
        self.requester = bus.Requester(settings)
        self.counts = bus.Pusher(settings, "dbwriter-events")  # the work thread's upload attempts, for the metrics
        self.alive = bus.Heartbeat(settings, "publisher")
        self.s3 = None
        if settings.s3_enabled:
            from common import s3  # boto3 (~10 MiB) is loaded only by a publisher that uploads

            self.s3 = s3.client(settings)
        self.database = SQLiteReader(settings.SQLITEFILEPATH)
        self.bucket_ready = False
        self.retry_at: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        self.retention = timedelta(hours=settings.RETENTIONHOURS)
        self.next_sweep = 0.0
        self.orphan_age = settings.ORPHANFILEMINAGESECONDS
        self.next_orphan_sweep = time.monotonic() + min(60.0, self.orphan_age / 2)
        self.threads: list[threading.Thread] = []

    # --- uploads -------------------------------------------------------------------------------------------
    def pending_uploads(self) -> list[tuple[str, str, str | None]]:
        if self.s3 is None:
            return []
        return self.database.rows(
            "SELECT uuid, fileName, thumbnailFileName FROM downloads WHERE status = ? AND s3UploadedAt IS NULL "
            "ORDER BY id LIMIT 50", (DownloadStatusEnum.COMPLETED.value,))

    def publish_pending(self) -> float:
        """Uploads what is due; returns how long the main loop may wait before something else is due."""
        now = time.monotonic()
        next_due = now + RESCAN_SECONDS
        for uuid, file_name, thumbnail in self.pending_uploads():
            due = self.retry_at.get(uuid, 0.0)
            if due <= now:
                self.publish(uuid, file_name, thumbnail)
                self.purge_pending()  # a delete that came during the upload is not kept waiting
            if uuid in self.retry_at:
                next_due = min(next_due, self.retry_at[uuid])
        return max(0.0, next_due - time.monotonic())

    def publish(self, uuid: str, file_name: str, thumbnail: str | None = None) -> None:
        """Uploads the thumbnail (if any) first, then the video: once the S3 link exists, both are there."""
        from common import s3

        try:
            if not self.bucket_ready:
                s3.ensure_bucket(self.s3, self.settings.S3BUCKET)
                self.bucket_ready = True
            for name in ([thumbnail] if thumbnail else []) + [file_name]:
                s3.upload(self.s3, self.settings.S3BUCKET, name, self.settings.VIDEODATAPATH / name)
        except Exception as error:  # network, credentials, missing file: recorded, retried later
            self.counts.send(bus.S3UploadAttempted(uuid=uuid, result="failed"))
            failures = self.failures.get(uuid, 0) + 1
            self.failures[uuid] = failures
            delay = min(MAX_BACKOFF_SECONDS, 2.0 ** failures)
            self.retry_at[uuid] = time.monotonic() + delay
            self.bucket_ready = False
            message = f"{type(error).__name__}: {error}"[:500]
            log.warning("download=%s upload failed (retry in %.0f s): %s", uuid, delay, message)
            self.requester.request_until_committed(bus.RecordUploadFailure(uuid=uuid, error=message))
            return
        self.counts.send(bus.S3UploadAttempted(uuid=uuid, result="uploaded"))
        self.retry_at.pop(uuid, None)
        self.failures.pop(uuid, None)
        reply = self.requester.request_until_committed(bus.RecordUpload(uuid=uuid, s3Key=file_name))
        if reply is not None and not reply.ok:
            # deleted (or no longer COMPLETED) while the upload ran: the objects must not outlive their row
            self.delete_object(uuid, file_name)
            if thumbnail:
                self.delete_object(uuid, thumbnail)
            log.info("download=%s upload finished after the download was %s: object removed", uuid,
                     "deleted" if reply.errorCode == "downloadNotFound" else reply.status)
            return
        log.info("download=%s uploaded to s3://%s/%s", uuid, self.settings.S3BUCKET, file_name)

    # --- purge list, retention, orphan files ------------------------------------------------------------------
    def status_of(self, uuids) -> dict[str, DownloadStatusEnum]:
        """The status of each of these downloads that has a row."""
        found, uuids = {}, list(uuids)
        for start in range(0, len(uuids), 500):  # SQLite limits the number of parameters of one statement
            chunk = uuids[start:start + 500]
            found.update((row.uuid, row.status) for row in self.database.records(
                f"SELECT uuid, status FROM downloads WHERE uuid IN ({', '.join('?' * len(chunk))})", tuple(chunk)))
        return found

    def delete_object(self, uuid: str, key: str) -> bool:
        if self.s3 is None:
            return True
        try:
            self.s3.delete_object(Bucket=self.settings.S3BUCKET, Key=key)
            return True
        except Exception as error:
            log.warning("download=%s could not delete s3://%s/%s (retried later): %s", uuid,
                        self.settings.S3BUCKET, key, error)
            return False

    def purge_pending(self) -> None:
        """Works through the purge list: the S3 object first, then the files, then the entry is marked done.
        Files of a FAILED or CANCELLED download are only removed while it still is (it may be retried)."""
        entries = self.database.rows("SELECT id, uuid, s3Key, rowDeleted FROM purges ORDER BY id LIMIT 200")
        for purge_id, uuid, s3_key, row_deleted in entries:
            if row_deleted:
                if s3_key and not all([self.delete_object(uuid, s3_key),
                                       self.delete_object(uuid, thumbnail_name(uuid))]):
                    continue
                removed = self.settings.remove_download_files(uuid)
                log.info("download=%s purged: files %s, S3 object %s", uuid, removed or "none", s3_key or "none")
            else:
                status = self.status_of([uuid]).get(uuid)
                if status in (DownloadStatusEnum.FAILED, DownloadStatusEnum.CANCELLED):
                    removed = self.settings.remove_download_files(uuid)
                    if removed:
                        log.info("download=%s %s: files removed: %s", uuid, status.value, removed)
            self.requester.request_until_committed(bus.PurgeDone(purgeId=purge_id))

    def sweep_retention(self) -> None:
        if not self.retention or time.monotonic() < self.next_sweep:
            return
        self.next_sweep = time.monotonic() + min(60.0, max(1.0, self.retention.total_seconds() / 4))
        cutoff = utcnow() - self.retention
        expired = self.database.rows(
            f"SELECT uuid, status FROM downloads WHERE status IN ({', '.join('?' * len(FINISHED_STATUSES))}) "
            "AND finishedAt < ? ORDER BY id LIMIT 200", (*(s.value for s in FINISHED_STATUSES), sql_time(cutoff)))
        for uuid, status in expired:
            reply = self.requester.request_until_committed(bus.DeleteDownload(uuid=uuid, onlyIfFinished=True))
            if reply is not None and reply.ok:
                log.info("retention: download=%s (%s, finished more than %g h ago) deleted", uuid, status,
                         self.settings.RETENTIONHOURS)
        if expired:
            self.purge_pending()

    def sweep_orphan_files(self) -> None:
        """Removes files named like a download that no download owns: a COMPLETED row owns its files in the
        data folder, a PENDING or DOWNLOADING row all its files; nothing younger than ORPHANFILEMINAGESECONDS
        is touched (a download may be about to claim it), nor anything not named like a download."""
        if time.monotonic() < self.next_orphan_sweep:
            return
        self.next_orphan_sweep = time.monotonic() + min(600.0, max(1.0, self.orphan_age / 2))
        try:
            health = self.requester.request(bus.Ping(), timeout=2.0)
        except bus.BusTimeout:
            return
        if not health.ok:  # e.g. the database file was replaced: its rows say nothing about these files
            return
        cutoff = time.time() - self.orphan_age
        candidates: list[tuple[Path, str, bool]] = []
        for folder, partial in ((self.settings.VIDEODATAPATH, False), (self.settings.partial_path, True)):
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for path in entries:
                match = DOWNLOAD_FILE.match(path.name)
                try:
                    if match and path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                        candidates.append((path, match[1], partial))
                except OSError:
                    continue
        if not candidates:
            return
        owners = self.status_of({uuid for _, uuid, _ in candidates})
        for path, uuid, partial in candidates:
            status = owners.get(uuid)
            if status in (DownloadStatusEnum.PENDING, DownloadStatusEnum.DOWNLOADING):
                continue
            if status == DownloadStatusEnum.COMPLETED and not partial:
                continue
            try:
                path.unlink()
                log.info("orphan file %s removed (download %s)", path, status.value if status else "gone")
            except OSError as error:
                log.warning("orphan file %s could not be removed: %s", path, error)

    # --- loops -------------------------------------------------------------------------------------------------
    def work_forever(self) -> None:
        wait = 0.0
        while True:
            if self.inbox.poll(wait * 1000):
                list(bus.drain(self.inbox))  # PurgeFiles, DownloadCompleted: only "look now"
            try:
                self.purge_pending()
                self.sweep_retention()
                wait = self.publish_pending()
                self.sweep_orphan_files()
            except Exception as error:
                log.warning("scan postponed: %s", error)
                wait = RESCAN_SECONDS
            if self.retention:
                wait = min(wait, max(0.0, self.next_sweep - time.monotonic()))
            wait = min(wait, max(0.0, self.next_orphan_sweep - time.monotonic()))

    def start(self) -> None:
        """Starts the work thread and the webhook sender."""
        worker = threading.Thread(target=self.work_forever, name="publisher-work", daemon=True)
        worker.start()
        self.threads = [worker, webhooks.start_sender(self.settings)]
        log.info("ready: S3 %s, retention %s", f"{self.settings.S3ENDPOINTURL} bucket {self.settings.S3BUCKET}"
                 if self.s3 else "off", f"{self.settings.RETENTIONHOURS:g} h" if self.retention else "forever")

    def beat(self) -> float:
        """The publisher's heartbeat, from the main loop of the process: sent while its threads live, which
        raises SystemExit once one has stopped. Returns seconds until the next beat is due."""
        if not all(thread.is_alive() for thread in self.threads):
            raise SystemExit("a thread of the publisher stopped")
        return self.alive.beat()
