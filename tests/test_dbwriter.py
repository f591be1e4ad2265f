"""The DB writer's batch commit against a real SQLite file: deadlines checked once the write lock is held,
a second writer refused, a command the code cannot apply refused alone."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid as uuidlib

import pytest

from common import bus
from common.config import Settings
from services.dbwriter import handlers
from services.dbwriter.service import DatabaseLocked, DBWriter, Request, hold_database_lock


@pytest.fixture
def writer(tmp_path):
    settings = Settings.load(SQLITEFILEPATH=tmp_path / "db" / "w.sqlite", VIDEODATAPATH=tmp_path / "data",
                        RUNPATH=tmp_path / "run")
    settings.create_folders()
    writer = DBWriter(settings)
    yield writer
    writer.commands.close()
    writer.events.close()


def create(timeout: float) -> Request:
    command = bus.CreateDownload(uuid=str(uuidlib.uuid4()), videoURL="http://example.com/v.mp4",
                                 ytdlpParameters=[], deadline=time.time() + 60)
    envelope = bus.Envelope(requestId=uuidlib.uuid4().hex, body=command, deadline=time.time() + timeout)
    return Request.received(b"caller", envelope)


def stored(writer: DBWriter) -> int:
    with sqlite3.connect(writer.path) as connection:
        return connection.execute("SELECT count(*) FROM downloads").fetchone()[0]


def test_a_command_that_expires_while_sqlite_is_locked_is_not_committed(writer):
    patient, impatient = create(timeout=30), create(timeout=1.0)
    holder = sqlite3.connect(writer.path, timeout=10, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(1.5, holder.rollback)  # released after the impatient caller's deadline
    releaser.start()
    try:
        replies = dict((reply.requestId, reply) for _, reply in writer.commit([patient, impatient], {}))
    finally:
        releaser.join()
        holder.close()
    assert replies[patient.envelope.requestId].ok
    assert replies[impatient.envelope.requestId].errorCode == "requestExpired"
    assert stored(writer) == 1


def test_a_second_writer_is_refused_naming_the_holder(writer):
    with pytest.raises(DatabaseLocked, match=r"pid \d+ on host .+ since "):
        hold_database_lock(writer.path)


def test_a_command_the_code_cannot_apply_is_refused_alone(writer, monkeypatch):
    broken = bus.RetryDownload(uuid=str(uuidlib.uuid4()))

    def crash(session, command):
        raise RuntimeError("a bug")

    monkeypatch.setitem(handlers.HANDLERS, bus.RetryDownload, crash)
    good = create(timeout=30)
    bad = Request.received(b"caller", bus.Envelope(requestId="bad", body=broken, deadline=time.time() + 30))
    replies = {reply.requestId: reply for _, reply in writer.commit([good, bad], {})}
    assert replies[good.envelope.requestId].ok and stored(writer) == 1
    assert replies["bad"].errorCode == "internalError"


def test_the_migration_child_dies_with_the_db_writer(tmp_path):
    """A DB writer killed while it migrates takes its migration child along (its transaction rolls back), so a
    restarted DB writer never migrates beside a leftover one."""
    import os
    import signal
    import subprocess
    import sys

    from tests.stack import APP_DIR, cmdline, process_table, wait_for

    database = tmp_path / "db.sqlite"
    sqlite3.connect(database).close()  # an empty database: migrated in place
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the migration waits for this lock (busy_timeout: 5 s)

    def migrating() -> list[int]:
        return [pid for pid in process_table() if str(database).encode() in cmdline(pid)]

    code = f"from pathlib import Path; from common.db import upgrade_schema_in_child as u; u(Path({str(database)!r}), 'x')"
    writer = subprocess.Popen([sys.executable, "-c", code], cwd=APP_DIR)
    wait_for(lambda: [pid for pid in migrating() if pid != writer.pid], timeout=30, message="the migration child")
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    wait_for(lambda: not migrating(), timeout=3, message="the migration child to die with the DB writer")
    blocker.rollback()
    blocker.close()
    subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, check=True, timeout=60)  # the next start migrates
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM downloads").fetchone() == (0,)


def test_the_db_writer_does_not_load_sqlalchemy(tmp_path):
    """SQLAlchemy costs a process ~16-20 MiB: only the migration child loads it, not the long-lived DB writer."""
    import subprocess
    import sys

    from tests.stack import APP_DIR

    code = ("import sys; from pathlib import Path; from common.config import Settings; "
            "from services.dbwriter.service import DBWriter; "
            f"s = Settings.load(SQLITEFILEPATH=Path({str(tmp_path / 'w.sqlite')!r}), "
            f"VIDEODATAPATH=Path({str(tmp_path / 'data')!r}), RUNPATH=Path({str(tmp_path / 'run')!r})); "
            "s.create_folders(); DBWriter(s); print(sorted(m for m in sys.modules if m.startswith('sqlalchemy')))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=APP_DIR, check=True, capture_output=True, text=True,
                            timeout=60).stdout
    assert loaded.strip().splitlines()[-1] == "[]"


def command(body: bus.Message) -> Request:
    return Request.received(b"caller", bus.Envelope(requestId=uuidlib.uuid4().hex, body=body,
                                                    deadline=time.time() + 60))


def committed(writer: DBWriter, body: bus.Message) -> bus.Reply:
    [(_, reply)] = writer.commit([command(body)], {})
    assert reply.ok, reply
    return reply


def test_a_playlist_childs_own_change_is_announced_with_its_parents(writer):
    """A child's change is written before its parent follows it (a flush inside the batch): the event of the
    child must still say what the child became, as /api/events and waitForDownload tell clients."""
    parent = str(uuidlib.uuid4())
    committed(writer, bus.CreateDownload(uuid=parent, videoURL="http://example.com/list", ytdlpParameters=[],
                                         deadline=time.time() + 60, playlistMaxItems=5))
    committed(writer, bus.StartAttempt(uuid=parent, attemptToken="parent"))
    children = committed(writer, bus.ExpandPlaylist(uuid=parent, attemptToken="parent", entries=[
        bus.PlaylistEntry(url=f"http://example.com/{n}.mp4") for n in range(2)])).uuids
    committed(writer, bus.StartAttempt(uuid=children[0], attemptToken="child"))
    with sqlite3.connect(writer.path) as connection:
        newest = connection.execute("SELECT max(id) FROM events").fetchone()[0]
    committed(writer, bus.FinishDownload(uuid=children[0], attempt=1, status="COMPLETED", sizeInBytes=10,
                                         fileName=f"{children[0]}.mp4", attemptToken="child"))
    with sqlite3.connect(writer.path) as connection:
        events = {uuid: json.loads(data) for uuid, data in connection.execute(
            "SELECT uuid, data FROM events WHERE id > ? ORDER BY id", (newest,))}
    assert events[children[0]]["downloadStatus"] == "COMPLETED", events
    assert events[children[0]]["fileName"] == f"{children[0]}.mp4"
    assert events[parent]["childrenCompleted"] == 1 and events[parent]["downloadStatus"] == "DOWNLOADING", events
