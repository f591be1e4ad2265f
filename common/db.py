"""The DB writer's SQLite connection (the standard library's sqlite3: the services that only read use
common/sqlite_reader.py) and the migrations, which run with SQLAlchemy and Alembic in a child process
(`python -m common.db PATH SERVICE`): this module imports neither until that child, or a test, asks for them."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.lifecycle import die_with_parent

if TYPE_CHECKING:
    from sqlalchemy import Engine

MIGRATIONS_PATH = Path(__file__).with_name("migrations")
APP_DIR = Path(__file__).resolve().parents[1]
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA busy_timeout=5000",
           "PRAGMA foreign_keys=ON")


def writer_connection(path: Path) -> sqlite3.Connection:
    """The only writable connection; WAL lets readers proceed while it commits, FULL sync makes acks durable.
    In autocommit mode (isolation_level=None): the DB writer begins and ends its transactions itself
    (services/dbwriter/rows.py)."""
    _create_once(path)
    return _connect(path, isolation_level=None)


def writer_engine(path: Path) -> Engine:
    """The same connections for SQLAlchemy (the migrations, and tests), with the sqlite3 module's own
    transaction handling, which SQLAlchemy expects."""
    from sqlalchemy import create_engine

    _create_once(path)
    return create_engine(f"sqlite:///{path}", creator=lambda: _connect(path, isolation_level=""))


def _create_once(path: Path) -> None:
    """The file is created here, before connecting; connections open it with mode=rw, so one made after the
    file was deleted fails instead of silently starting an empty database."""
    if not path.exists():
        sqlite3.connect(path).close()


def _connect(path: Path, isolation_level: str | None) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=isolation_level,
                                 check_same_thread=False)
    for pragma in PRAGMAS:
        connection.execute(pragma)
    return connection


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
