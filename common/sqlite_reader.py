"""Read-only SQL on the database for the services that only look rows up (scheduler, publisher), without
SQLAlchemy: importing it costs a process ~19 MiB, and these services run a handful of fixed queries.

Values are stored as the DB writer's SQLAlchemy models store them (common/models.py): enums by name, JSON
as text, UTC datetimes naive as 'YYYY-MM-DD HH:MM:SS.ffffff' (which therefore compare as text)."""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def sql_time(moment: datetime) -> str:
    """A datetime as the models store it (SQLAlchemy's SQLite DateTime of naive UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_time(stored: str | None) -> datetime | None:
    """A stored datetime back as an aware UTC datetime."""
    return datetime.fromisoformat(stored).replace(tzinfo=timezone.utc) if stored is not None else None


def json_value(stored: str | None) -> Any:
    return json.loads(stored) if stored is not None else None


class SQLiteReader:
    """One read-only connection per thread (SQLite itself refuses writes: mode=ro, query_only), opened once
    the DB writer has created the database; each query reads the latest committed state."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection | None:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if not self.path.exists():
                return None
            connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5.0)
            connection.execute("PRAGMA query_only=ON")
            self._local.connection = connection
        return connection

    def rows(self, sql: str, parameters: tuple | dict = ()) -> list[tuple]:
        """All rows of a query, or none while the database does not exist yet."""
        connection = self._connection()
        return [] if connection is None else connection.execute(sql, parameters).fetchall()
