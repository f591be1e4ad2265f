"""The DB writer's unit of work, on the standard library's sqlite3: SQLAlchemy's ORM would cost this long-lived
process ~16-20 MiB for a handful of tables and statements.

A Batch is one transaction's rows: one object per row (a handler that looks a row up twice gets the object it
already changed), new, changed and deleted rows written at `flush` as INSERTs, UPDATEs of the changed columns
only and DELETEs, in that order. Lookups read the database, so they see what was flushed, as a session without
autoflush does. The tables are common/models.py's (tests/test_rows.py keeps the columns and defaults here equal
to its), and values are stored as its SQLAlchemy types store them (common/sqlite_reader.py reads them back)."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, TypeVar

from common.sqlite_reader import CONVERTERS, JSON_COLUMNS, sql_time
from common.statuses import DownloadKindEnum, utcnow


def stored(column: str, value: Any) -> Any:
    """A model value as SQLite stores it: JSON as text, datetimes as naive UTC text, enums by name, bools 0/1."""
    if column in JSON_COLUMNS:
        return json.dumps(value)
    if isinstance(value, datetime):
        return sql_time(value)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return int(value)
    return value


def _loaded(column: str, value: Any) -> Any:
    convert = CONVERTERS.get(column)
    return value if convert is None or value is None else convert(value)


class Row:
    """A row of `table` with its columns as attributes (None: NULL, or a default still to apply at insert)."""
    __slots__ = ("_stored",)  # the values as last read or written; None until inserted
    table: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # the primary key `id` first
    defaults: ClassVar[dict[str, Any]] = {}  # for a column left None at insert: a value, or what makes one
    on_update: ClassVar[dict[str, Callable[[], Any]]] = {}  # set on every UPDATE that does not set them itself

    def __init__(self, **values: Any):
        self._stored: dict[str, Any] | None = None
        for column in self.columns:
            setattr(self, column, values.pop(column, None))
        if values:
            raise TypeError(f"{type(self).__name__} has no column {', '.join(values)}")

    def values(self) -> dict[str, Any]:
        return {column: getattr(self, column) for column in self.columns}

    def changes(self) -> dict[str, Any]:
        """The columns whose value differs from the stored one (set back to it: not a change)."""
        return {column: value for column, value in self.values().items() if value != self._stored[column]}


class Download(Row):
    table = "downloads"
    __slots__ = columns = (
        "id", "uuid", "videoURL", "ytdlpParameters", "status", "sizeInBytes", "progress", "speedBytesPerSecond",
        "etaSeconds", "fileName", "errorMessage", "attempts", "createdAt", "updatedAt", "startedAt", "finishedAt",
        "s3Key", "s3UploadedAt", "s3UploadAttempts", "s3UploadError", "attemptToken", "idempotencyKey", "errorCode",
        "errorDetail", "retryable", "videoTitle", "videoDurationSeconds", "videoUploader", "extractor", "webpageURL",
        "thumbnailFileName", "cookieProfile", "ytdlpVersion", "callbackURL", "callbackState", "callbackAttempts",
        "callbackError", "downloadKind", "parentDownloadUUID", "playlistMaxItems", "childrenTotal",
        "childrenCompleted", "childrenFailed", "subscriptionUUID")
    defaults = {"ytdlpParameters": list, "attempts": 0, "createdAt": utcnow, "updatedAt": utcnow,
                "s3UploadAttempts": 0, "downloadKind": DownloadKindEnum.VIDEO.value}
    on_update = {"updatedAt": utcnow}


class Purge(Row):
    table = "purges"
    __slots__ = columns = ("id", "uuid", "fileName", "s3Key", "rowDeleted", "createdAt")
    defaults = {"createdAt": utcnow}


class Event(Row):
    table = "events"
    __slots__ = columns = ("id", "uuid", "data", "createdAt")
    defaults = {"createdAt": utcnow}


class WebhookDelivery(Row):
    table = "webhook_deliveries"
    __slots__ = columns = ("id", "uuid", "callbackURL", "body", "state", "attempts", "nextAttemptAt", "lastError",
                           "deliveredAt", "createdAt")
    defaults = {"attempts": 0, "nextAttemptAt": utcnow, "createdAt": utcnow}


class Subscription(Row):
    table = "subscriptions"
    __slots__ = columns = ("id", "uuid", "url", "checkEveryMinutes", "maxItemsPerCheck", "ytdlpParameters",
                           "createdAt", "lastCheckAt", "nextCheckAt", "lastCheckDownloadUUID")
    defaults = {"ytdlpParameters": list, "createdAt": utcnow}


class SubscriptionEntry(Row):
    table = "subscription_entries"
    __slots__ = columns = ("id", "subscriptionUUID", "entryKey", "downloadUUID", "createdAt")
    defaults = {"createdAt": utcnow}


R = TypeVar("R", bound=Row)


def _names(columns) -> str:
    return ", ".join(f'"{column}"' for column in columns)


class Batch:
    """The rows of one transaction, and what its handlers leave for after the commit."""

    def __init__(self, connection: sqlite3.Connection):
        self.connection = connection
        self.after_commit: list[Callable[[], None]] = []  # run only once the batch is committed
        self.idempotency_keys: dict[str, Download] = {}  # this batch's new downloads, not flushed yet
        self._rows: dict[tuple[type[Row], int], Row] = {}  # every stored row this batch has seen, by id
        self.new: dict[Row, None] = {}  # added since the last flush, in order (a dict as an ordered set)
        self.deleted: dict[Row, None] = {}  # deleted since the last flush
        # the whole batch's doing, across the flushes handlers make: rows as the batch first read them, rows
        # it inserted, stored rows it deleted
        self._before: dict[Row, dict[str, Any]] = {}
        self._inserted: dict[Row, None] = {}
        self._removed: dict[Row, None] = {}

    def add(self, row: Row) -> None:
        if row._stored is None:
            self.new[row] = None

    def delete(self, row: Row) -> None:
        if row._stored is None:
            raise ValueError(f"{type(row).__name__} {row.values()} is not stored: it cannot be deleted")
        self.deleted[row] = None

    def changed(self) -> dict[Row, dict[str, Any]]:
        """The stored rows changed since the last flush (and not deleted), with their changed columns."""
        return {row: changes for row in self._rows.values()
                if row not in self.deleted and (changes := row.changes())}

    def batch_changes(self) -> tuple[list[Row], dict[Row, set[str]], list[Row]]:
        """What the whole batch does, flushed or not: the rows it creates, the stored rows it changes with their
        changed columns (against the values it first read), and the stored rows it deletes (a row created
        and deleted in the batch is in none of them)."""
        created = [row for row in [*self._inserted, *self.new] if row not in self._removed and row not in self.deleted]
        changed = {}
        for row, before in self._before.items():
            if row not in self._removed and row not in self.deleted:
                columns = {column for column, value in row.values().items() if value != before[column]}
                if columns:
                    changed[row] = columns
        deleted = [row for row in [*self._removed, *self.deleted] if row in self._before]
        return created, changed, deleted

    def execute(self, sql: str, parameters: tuple | list = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, parameters)

    def all(self, kind: type[R], where: str, parameters: tuple | list = ()) -> list[R]:
        """The rows of `kind` that `where` (SQL after WHERE, with ORDER BY if wanted) selects in the database;
        a row this batch already holds comes back as that object, with its changes."""
        cursor = self.execute(f"SELECT {_names(kind.columns)} FROM {kind.table} WHERE {where}", parameters)
        return [self._row(kind, record) for record in cursor]

    def one(self, kind: type[R], where: str, parameters: tuple | list = ()) -> R | None:
        """The one row `where` selects, or None."""
        rows = self.all(kind, where, parameters)
        if len(rows) > 1:
            raise LookupError(f"{len(rows)} {kind.table} rows where {where} {parameters}, expected one at most")
        return rows[0] if rows else None

    def get(self, kind: type[R], row_id: int) -> R | None:
        """The row with this id: the batch's own object if it has one, else from the database (or None)."""
        return self._rows.get((kind, row_id)) or self.one(kind, "id = ?", (row_id,))

    def _row(self, kind: type[R], record: tuple) -> R:
        row = self._rows.get((kind, record[0]))
        if row is None:
            row = kind.__new__(kind)
            for column, value in zip(kind.columns, record):
                setattr(row, column, _loaded(column, value))
            row._stored = row.values()
            self._rows[(kind, row.id)] = row
            self._before[row] = dict(row._stored)
        return row

    def flush(self) -> None:
        """Writes the changes so far: UPDATEs, then INSERTs (each new row gets its id), then DELETEs."""
        for row, changes in sorted(self.changed().items(), key=lambda item: (item[0].table, item[0].id)):
            for column, make in row.on_update.items():
                if column not in changes:
                    changes[column] = make()
                    setattr(row, column, changes[column])
            assignments = ", ".join(f'"{column}" = ?' for column in changes)
            cursor = self.execute(f"UPDATE {row.table} SET {assignments} WHERE id = ?",
                                  [*(stored(column, value) for column, value in changes.items()), row.id])
            if cursor.rowcount != 1:
                raise LookupError(f"{row.table} row {row.id} was deleted while this batch changed it")
            row._stored.update(changes)
        for row in self.new:
            for column, default in row.defaults.items():
                if getattr(row, column) is None:
                    setattr(row, column, default() if callable(default) else default)
            columns = row.columns[1:]  # without id: SQLite assigns it
            marks = ", ".join("?" * len(columns))
            cursor = self.execute(f"INSERT INTO {row.table} ({_names(columns)}) VALUES ({marks})",
                                  [stored(column, getattr(row, column)) for column in columns])
            row.id = cursor.lastrowid
            row._stored = row.values()
            self._rows[(type(row), row.id)] = row
            self._inserted[row] = None
        for row in sorted(self.deleted, key=lambda row: (row.table, row.id)):
            self.execute(f"DELETE FROM {row.table} WHERE id = ?", (row.id,))
            del self._rows[(type(row), row.id)]
            self._removed[row] = None
        self.new.clear()
        self.deleted.clear()


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[Batch]:
    """A batch in one write transaction, flushed and committed when the block ends and rolled back if anything
    in it raises, so that nothing half-applied is ever committed. BEGIN IMMEDIATE takes SQLite's write lock
    first (waiting up to busy_timeout): the batch's lookups and writes see one state of the database.
    The connection must be in autocommit mode (isolation_level=None): this begins and ends transactions."""
    batch = Batch(connection)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield batch
        batch.flush()
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
