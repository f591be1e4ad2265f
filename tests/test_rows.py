"""The DB writer's unit of work (services/dbwriter/rows.py) against the schema it writes: the tables, columns
and defaults of common/models.py, values stored as its SQLAlchemy types store them, one UPDATE of the changed
columns only, nothing committed when the batch fails."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session

from common import models
from common.db import upgrade_schema, writer_connection, writer_engine
from common.statuses import DownloadStatusEnum as S
from services.dbwriter import rows
from services.dbwriter.rows import transaction

ROW_CLASSES = [rows.Download, rows.Purge, rows.Event, rows.WebhookDelivery, rows.Subscription,
               rows.SubscriptionEntry]


@pytest.fixture
def database(tmp_path):
    path = tmp_path / "rows.sqlite"
    engine = writer_engine(path)
    upgrade_schema(engine)
    connection = writer_connection(path)
    yield connection, engine
    connection.close()
    engine.dispose()


@pytest.mark.parametrize("kind", ROW_CLASSES, ids=lambda kind: kind.table)
def test_each_table_has_the_columns_and_defaults_of_the_models(kind):
    table = models.Base.metadata.tables[kind.table]
    assert kind.columns == tuple(column.key for column in table.columns)
    defaults = {column.key: column.default for column in table.columns if column.default is not None}
    assert kind.defaults.keys() == defaults.keys()
    for name, default in defaults.items():
        ours = kind.defaults[name]
        assert callable(ours) == default.is_callable
        made, theirs = (ours(), default.arg(None)) if callable(ours) else (ours, default.arg)
        assert type(made) is type(theirs) and (made == theirs or isinstance(made, datetime))  # utcnow: now
    assert kind.on_update.keys() == {column.key for column in table.columns if column.onupdate is not None}


def test_values_are_stored_as_the_models_store_them(database):
    connection, engine = database
    finished = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=timezone(timedelta(hours=2)))
    with transaction(connection) as batch:
        batch.add(rows.Download(uuid="u1", videoURL="http://example.com/v", ytdlpParameters=["-f", "best"],
                                status=S.FAILED, retryable=False, finishedAt=finished, progress=12.5))
    with Session(engine) as session:
        model = session.query(models.Download).filter_by(uuid="u1").one()
        assert (model.status, model.ytdlpParameters, model.retryable, model.finishedAt, model.progress) == (
            S.FAILED, ["-f", "best"], False, finished, 12.5)
        assert (model.attempts, model.s3UploadAttempts, model.downloadKind) == (0, 0, "VIDEO")
        session.add(models.Download(uuid="u2", videoURL="http://example.com/w", status=S.COMPLETED, retryable=True,
                                    startedAt=finished))
        session.commit()
        expected = {column.key: getattr(session.query(models.Download).filter_by(uuid="u2").one(), column.key)
                    for column in models.Download.__table__.columns}
    assert connection.execute("SELECT status, retryable, ytdlpParameters, finishedAt FROM downloads WHERE uuid = 'u1'"
                              ).fetchone() == ("FAILED", 0, '["-f", "best"]', "2026-01-02 01:04:05.600000")
    with transaction(connection) as batch:
        assert batch.one(rows.Download, "uuid = ?", ("u2",)).values() == expected


def test_an_update_writes_the_changed_columns_and_updatedAt_only(database):
    connection, _ = database
    with transaction(connection) as batch:
        batch.add(rows.Download(uuid="u1", videoURL="http://example.com/v", status=S.PENDING))
    statements = []
    connection.set_trace_callback(statements.append)
    with transaction(connection) as batch:
        row = batch.one(rows.Download, "uuid = ?", ("u1",))
        before = row.updatedAt
        assert batch.one(rows.Download, "id = ?", (row.id,)) is row  # one object per row in a batch
        row.errorCode, row.attempts = "x", 1
        row.errorCode = None  # set back: not a change
        row.ytdlpParameters = []  # equal: not a change
        assert batch.changed() == {row: {"attempts": 1}}
    connection.set_trace_callback(None)
    updates = [statement for statement in statements if statement.startswith("UPDATE")]
    assert updates == [f"""UPDATE downloads SET "attempts" = 1, "updatedAt" = '{rows.sql_time(row.updatedAt)}' """
                       f"""WHERE id = {row.id}"""]
    assert row.updatedAt > before
    with transaction(connection) as batch:
        row = batch.one(rows.Download, "uuid = ?", ("u1",))
        row.attempts = 1
        assert batch.changed() == {}


def test_nothing_of_a_failed_batch_is_committed(database):
    connection, _ = database
    with pytest.raises(RuntimeError):
        with transaction(connection) as batch:
            batch.add(rows.Purge(uuid="p", rowDeleted=True))
            batch.flush()
            raise RuntimeError("a bug")
    assert not connection.in_transaction
    assert connection.execute("SELECT count(*) FROM purges").fetchone() == (0,)


def test_lookups_see_what_was_flushed_and_deletes_come_last(database):
    connection, _ = database
    with transaction(connection) as batch:
        purge = rows.Purge(uuid="p", rowDeleted=False)
        batch.add(purge)
        assert batch.all(rows.Purge, "uuid = 'p'") == []  # not flushed: a lookup reads the database
        batch.flush()
        assert batch.get(rows.Purge, purge.id) is purge and purge.createdAt is not None
        batch.delete(purge)
        assert batch.get(rows.Purge, purge.id) is purge  # until the flush
    with transaction(connection) as batch:
        assert batch.get(rows.Purge, purge.id) is None
        with pytest.raises(ValueError):
            batch.delete(rows.Purge(uuid="q", rowDeleted=False))
