"""The DB writer's SQLite engine and migrations (the services that only read use common/sqlite_reader.py)."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from common.lifecycle import die_with_parent

MIGRATIONS_PATH = Path(__file__).with_name("migrations")
APP_DIR = Path(__file__).resolve().parents[1]


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


def upgrade_schema_in_child(path: Path, service: str) -> None:
    """Applies the migrations in a short-lived child process (`python -m common.db PATH SERVICE`), so that
    Alembic and the migration scripts (~11 MiB) do not stay in the long-lived process that asked for them.

    A new database is built beside its path and moved there once complete: readers, which wait for the file
    to exist, never see it without its tables."""
    fresh = not path.exists()
    target = path.with_name(path.name + ".new") if fresh else path
    if fresh:
        for leftover in (target, *_wal_files(target)):
            leftover.unlink(missing_ok=True)
    parent = os.getpid()  # the child dies with it (its transaction rolls back): never two migrations at once
    code = subprocess.run([sys.executable, "-m", "common.db", str(target), service], cwd=APP_DIR,
                          preexec_fn=lambda: die_with_parent(signal.SIGKILL, parent=parent)).returncode
    if code != 0:
        raise RuntimeError(f"the migration of {path} failed (exit code {code}; its error is logged above)")
    if fresh:
        if any(wal.exists() for wal in _wal_files(target)):  # its data would stay behind in the -wal file
            raise RuntimeError(f"the new database {target} was not closed cleanly")
        os.replace(target, path)


def _wal_files(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _upgrade_and_close(path: Path) -> None:
    engine = writer_engine(path)
    upgrade_schema(engine)
    engine.dispose()  # closes the connection: SQLite checkpoints the WAL into the file and removes it


if __name__ == "__main__":
    from common.logs import setup_logging

    setup_logging(sys.argv[2])
    _upgrade_and_close(Path(sys.argv[1]))
