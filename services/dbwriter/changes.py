"""What the DB writer tells the world about each batch: an event row per visible change of a download and a
webhook outbox row per final state, both written in the batch's own transaction, then published on the
dbwriter-changes PUB socket once the commit succeeded (nothing is announced that was not stored).

The changes are read from the batch itself (the rows it created, changed and deleted, against the values it first
read, across the flushes its handlers made: services/dbwriter/rows.py), so every handler, present or future, is
covered without announcing anything by hand. Progress-only changes of a download are coalesced to one event per
PROGRESS_EVENT_SECONDS; its row still takes every update, and an event that changes the status carries every field
of the item, so no coalesced value is missed for long.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import zmq

from common import bus
from common.items import ITEM_FIELDS, download_item
from common.config import Settings
from common.statuses import FINISHED_STATUSES, DownloadStatusEnum
from services.dbwriter.rows import Batch, Download, Event, WebhookDelivery

log = logging.getLogger("dbwriter")

PROGRESS_EVENT_SECONDS = 0.3
# column → item field where the names differ (common/items.py download_item)
ITEM_FIELD_OF_COLUMN = {"status": "downloadStatus", "sizeInBytes": "downloadSizeInBytes",
                        "ytdlpParameters": "ytdlpCLIParameters", "s3UploadedAt": "s3Available",
                        "callbackState": "callbackStatus", "callbackAttempts": "callbackStatus",
                        "callbackError": "callbackStatus", "thumbnailFileName": "thumbnailURL"}
PROGRESS_FIELDS = {"progress", "downloadSizeInBytes", "speedBytesPerSecond", "etaSeconds"}
NOT_ANNOUNCED = {"updatedAt", "createdAt"}


def item_fields() -> set[str]:
    return set(ITEM_FIELDS) - NOT_ANNOUNCED


def encode_event(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


@dataclass
class Change:
    row: Download
    fields: set[str] | None  # item fields that changed; None: the download was created
    deleted: bool
    status_changed: bool
    status_before_delete: str | None = None


class ChangeRecorder:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.fields = item_fields()
        self.last_progress_event: dict[str, float] = {}
        self.progress_announced: dict[str, float] = {}  # this batch's, kept only once it is committed
        self.socket = bus.bind(settings, "dbwriter-changes", zmq.PUB)

    def pending_changes(self, batch: Batch) -> list[Change]:
        """The downloads the whole batch changes, also before a flush a handler made (a playlist child's own
        change is flushed before its parent follows it); called once the handlers are done."""
        created, changed, deleted = batch.batch_changes()
        changes = [Change(row, None, False, True) for row in created if isinstance(row, Download)]
        for row, columns in changed.items():
            if isinstance(row, Download):
                fields = {ITEM_FIELD_OF_COLUMN.get(name, name) for name in columns} & self.fields
                if fields:
                    changes.append(Change(row, fields, False, "status" in columns))
        changes += [Change(row, set(), True, False, row.status.value) for row in deleted if isinstance(row, Download)]
        return changes

    def record(self, batch: Batch, changes: list[Change]) -> list[Event]:
        """Writes the events and outbox rows of a flushed batch (in its transaction); returns the events."""
        now = time.monotonic()
        events = []
        self.progress_announced = {}
        for change in changes:
            row = change.row
            if change.deleted:
                data = {"downloadUUID": row.uuid, "downloadStatus": change.status_before_delete, "deleted": True}
                self.last_progress_event.pop(row.uuid, None)
            else:
                if change.fields is not None and change.fields <= PROGRESS_FIELDS:
                    if now - self.last_progress_event.get(row.uuid, 0.0) < PROGRESS_EVENT_SECONDS:
                        continue
                if change.fields is not None and change.fields & PROGRESS_FIELDS:
                    self.progress_announced[row.uuid] = now
                fields = change.fields
                if change.status_changed and row.status in FINISHED_STATUSES:
                    self.last_progress_event.pop(row.uuid, None)  # no more progress: the map stays small
                    self.progress_announced.pop(row.uuid, None)
                    if row.callbackURL:
                        self.add_webhook(batch, row)
                if fields is not None and change.status_changed:
                    fields = self.fields  # the whole state: progress values coalesced away before are not lost
                item = download_item(row, self.settings.HTTPSBASEURL)
                if fields is None:
                    data = item
                else:
                    data = {"downloadUUID": row.uuid, "downloadStatus": row.status.value,
                            **{name: item.get(name) for name in sorted(fields - {"downloadStatus"})},
                            "updatedAt": item.get("updatedAt")}
            event = Event(uuid=row.uuid, data=encode_event(data))
            batch.add(event)
            events.append(event)
        if events:
            batch.flush()
            self.prune(batch, newest=events[-1].id)
        return events

    def add_webhook(self, batch: Batch, row: Download) -> None:
        body = {key: value for key, value in download_item(row, self.settings.HTTPSBASEURL).items()
                if key != "callbackStatus"}
        if row.status == DownloadStatusEnum.COMPLETED and row.fileName:
            body["publicURL"] = f"{self.settings.HTTPSBASEURL}/{row.fileName}"
        batch.add(WebhookDelivery(uuid=row.uuid, callbackURL=row.callbackURL, body=encode_event(body),
                                  state="pending", attempts=0))
        row.callbackState, row.callbackAttempts, row.callbackError = "pending", 0, None

    def prune(self, batch: Batch, newest: int) -> None:
        """Keeps the last EVENTSKEPT events (a range delete on the primary key: nothing to do most times)."""
        batch.execute("DELETE FROM events WHERE id <= ?", (newest - self.settings.EVENTSKEPT,))

    def publish(self, events: list[Event]) -> None:
        """After the commit: one DownloadChanged per event, in id order."""
        self.last_progress_event.update(self.progress_announced)
        self.progress_announced = {}
        for event in events:
            try:
                self.socket.send(bus.encode(bus.DownloadChanged(eventId=event.id, uuid=event.uuid, data=event.data)),
                                 zmq.NOBLOCK)
            except zmq.Again:
                log.warning("change publication queue full: subscribers read event %d from the database", event.id)
