"""SQLite engines: one writable engine for the DB writer, read-only engines for everyone else."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_PATH = Path(__file__).with_name("migrations")


def _on_connect(pragmas: list[str]):
    def apply(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()
    return apply


def writer_engine(path: Path) -> Engine:
    """The only writable engine; WAL lets readers proceed while it commits, FULL sync makes acks durable.
    The file is created here once; later connections open it with mode=rw, so a connection made after the
    file was deleted fails instead of silently starting an empty database."""
    if not path.exists():
        sqlite3.connect(path).close()
    engine = create_engine(f"sqlite:///file:{path}?mode=rw&uri=true", connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _on_connect([
        "PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000",
        "PRAGMA foreign_keys=ON"]))
    return engine


def reader_engine(path: Path) -> Engine:
    """A read-only engine: SQLite itself refuses writes through it (mode=ro)."""
    engine = create_engine(
        f"sqlite:///file:{path}?mode=ro&uri=true",
        connect_args={"check_same_thread": False}, pool_pre_ping=False)
    event.listen(engine, "connect", _on_connect(["PRAGMA busy_timeout=5000", "PRAGMA query_only=ON"]))
    return engine


class ReadOnlyDatabase:
    """Read-only sessions on the SQLite file, opened once the DB writer has created it (thread-safe)."""

    def __init__(self, path: Path):
        self.path = path
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    def session(self) -> Session | None:
        """A new read-only session, or None while the database does not exist yet."""
        if self._sessions is None:
            with self._lock:
                if self._sessions is None:
                    if not self.path.exists():
                        return None
                    self._sessions = session_factory(reader_engine(self.path))
        return self._sessions()

    def rows(self, statement) -> list:
        """All rows of a query, or none while the database does not exist yet."""
        session = self.session()
        if session is None:
            return []
        with session:
            return session.execute(statement).all()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """No autoflush: the DB writer looks rows up between changes of one batch, and each lookup would
    otherwise flush the pending inserts one statement at a time; the batch is flushed once, at commit."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


def upgrade_schema(engine: Engine) -> None:
    """Applies the Alembic migrations up to head (the DB writer does this at start)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
