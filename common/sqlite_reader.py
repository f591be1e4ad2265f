"""Read-only SQL on the database for the services that only look rows up (API, scheduler, publisher), without
SQLAlchemy: importing it costs a process ~19 MiB, and these services run a handful of fixed queries.

Values are stored as the DB writer's SQLAlchemy models store them (common/models.py): enums by name, JSON
as text, UTC datetimes naive as 'YYYY-MM-DD HH:MM:SS.ffffff' (which therefore compare as text)."""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from common.statuses import DownloadStatusEnum


def sql_time(moment: datetime) -> str:
    """A datetime as the models store it (SQLAlchemy's SQLite DateTime of naive UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_time(stored: str | None) -> datetime | None:
    """A stored datetime back as an aware UTC datetime."""
    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc) if stored is not None else None


DATETIME_COLUMNS = frozenset(("createdAt", "updatedAt", "startedAt", "finishedAt", "s3UploadedAt", "lastCheckAt",
                              "nextCheckAt", "nextAttemptAt", "deliveredAt"))
JSON_COLUMNS = frozenset(("ytdlpParameters",))
BOOLEAN_COLUMNS = frozenset(("retryable", "rowDeleted"))


def _status(stored: str) -> DownloadStatusEnum:
    return DownloadStatusEnum[stored]


# column name -> how its stored value becomes the model's (None stays None)
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    **dict.fromkeys(DATETIME_COLUMNS, utc_time), **dict.fromkeys(JSON_COLUMNS, json.loads),
    **dict.fromkeys(BOOLEAN_COLUMNS, bool), "status": _status}


class SQLiteReader:
    """Read-only connections (SQLite itself refuses writes: mode=ro, query_only), opened once the DB writer has
    created the database and kept in a pool: one query uses one at a time, whether callers are threads or
    the API's greenlets (a connection per greenlet would be a new one per request). Each query reads the
    latest committed state."""

    def __init__(self, path: Path):
        self.path = path
        self._idle: list[sqlite3.Connection] = []

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection | None]:
        try:
            connection = self._idle.pop()
        except IndexError:
            if not self.path.exists():
                yield None
                return
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0,
                                         check_same_thread=False)
            connection.execute("PRAGMA query_only=ON")
        try:
            yield connection
        finally:
            self._idle.append(connection)

    def exists(self) -> bool:
        """Whether the DB writer has created the database (known without a stat once a connection is open)."""
        return bool(self._idle) or self.path.exists()

    def _fetch(self, sql: str, parameters: tuple | dict) -> tuple[tuple, list[tuple]]:
        with self._connection() as connection:
            if connection is None:
                return (), []
            cursor = connection.execute(sql, parameters)
            return cursor.description, cursor.fetchall()

    def rows(self, sql: str, parameters: tuple | dict = ()) -> list[tuple]:
        """All rows of a query, or none while the database does not exist yet."""
        return self._fetch(sql, parameters)[1]

    def records(self, sql: str, parameters: tuple | dict = ()) -> list[SimpleNamespace]:
        """The same rows as attributes named like the models' (row.status, row.createdAt...), each value as the
        model gives it (status enum, aware UTC datetime, parsed JSON, bool)."""
        description, rows = self._fetch(sql, parameters)
        columns = [(column[0], CONVERTERS.get(column[0])) for column in description]
        return [SimpleNamespace(**{name: value if convert is None or value is None else convert(value)
                                   for (name, convert), value in zip(columns, row)}) for row in rows]
