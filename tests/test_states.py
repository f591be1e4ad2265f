"""The download state machine (common/states.py) as the DB writer enforces it: every command from every
status, against a real SQLite file migrated like production, through the DB writer's own handlers."""
from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from typing import Callable

import pytest
from sqlalchemy import func, select

from common import bus, states
from common.db import session_factory, upgrade_schema, writer_engine
from common.models import Download, DownloadStatusEnum as S, Purge
from services.dbwriter import handlers


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    engine = writer_engine(tmp_path_factory.mktemp("states") / "states.sqlite")
    upgrade_schema(engine)
    return session_factory(engine)


def apply(sessions, command: bus.Message) -> dict:
    with sessions.begin() as session:
        reply = handlers.apply(session, command)
        if not reply["ok"]:
            session.rollback()  # what the DB writer commits for a refusal must be nothing: prove it by reading
            with sessions.begin() as fresh:
                fresh.add(Download(uuid=str(uuidlib.uuid4()), videoURL="x", ytdlpParameters=[], status=S.PENDING))
            return reply
    handlers.run_after_commit(session)
    return reply


def apply_in_place(sessions, command: bus.Message) -> dict:
    """Applies and commits whatever the handler left in the session, refusal or not: a refusal must have
    changed nothing even when committed."""
    with sessions.begin() as session:
        reply = handlers.apply(session, command)
    handlers.run_after_commit(session)
    return reply


def make_row(sessions, status: S) -> str:
    uuid = str(uuidlib.uuid4())
    with sessions.begin() as session:
        session.add(Download(uuid=uuid, videoURL="http://example.com/v.mp4", ytdlpParameters=[], status=status,
                             attempts=1, attemptToken="token-1" if status == S.DOWNLOADING else "token-0",
                             fileName=f"{uuid}.mp4" if status == S.COMPLETED else None))
    return uuid


def snapshot(sessions, uuid: str) -> tuple[dict | None, int]:
    with sessions() as session:
        row = session.execute(select(Download).where(Download.uuid == uuid)).scalar_one_or_none()
        purges = session.execute(select(func.count()).select_from(Purge).where(Purge.uuid == uuid)).scalar_one()
        columns = {c.key: getattr(row, c.key) for c in Download.__table__.columns} if row else None
        return columns, purges


@dataclass
class Variant:
    command: str
    build: Callable[[str], bus.Message]
    intended: Callable[[S], S | None]


VARIANTS = [
    Variant("StartAttempt", lambda u: bus.StartAttempt(uuid=u, attemptToken="token-2"), lambda o: S.DOWNLOADING),
    Variant("FinishDownload", lambda u: bus.FinishDownload(uuid=u, attempt=1, attemptToken="token-1",
                                                           status="COMPLETED", fileName=f"{u}.mp4", sizeInBytes=1),
            lambda o: S.COMPLETED),
    Variant("FinishDownload", lambda u: bus.FinishDownload(uuid=u, attempt=1, attemptToken="token-1",
                                                           status="FAILED", errorMessage="boom"),
            lambda o: S.FAILED),
    Variant("RequeueDownload", lambda u: bus.RequeueDownload(uuid=u, reason="runner died", maxAttempts=3),
            lambda o: S.PENDING),
    Variant("RequeueDownload", lambda u: bus.RequeueDownload(uuid=u, reason="runner died", maxAttempts=1),
            lambda o: S.FAILED if o == S.DOWNLOADING else S.PENDING),
    Variant("CancelDownload", lambda u: bus.CancelDownload(uuid=u), lambda o: S.CANCELLED),
    Variant("RetryDownload", lambda u: bus.RetryDownload(uuid=u), lambda o: S.PENDING),
    Variant("DeleteDownload", lambda u: bus.DeleteDownload(uuid=u), lambda o: states.DELETED),
    Variant("RecordUpload", lambda u: bus.RecordUpload(uuid=u, s3Key=f"{u}.mp4"), lambda o: S.COMPLETED),
    Variant("RecordUploadFailure", lambda u: bus.RecordUploadFailure(uuid=u, error="S3 down"),
            lambda o: S.COMPLETED),
]
CASES = [(variant, origin) for variant in VARIANTS for origin in S]


@pytest.mark.parametrize("variant,origin", CASES,
                         ids=[f"{v.command}-{v.intended(o).value if v.intended(o) else 'deleted'}-from-{o.value}"
                              for v, o in CASES])
def test_every_command_from_every_status(sessions, variant: Variant, origin: S):
    uuid = make_row(sessions, origin)
    target = variant.intended(origin)
    before, purges_before = snapshot(sessions, uuid)
    reply = apply_in_place(sessions, variant.build(uuid))
    after, purges_after = snapshot(sessions, uuid)
    if target in states.targets(variant.command, origin):
        assert reply["ok"], reply
        if target is states.DELETED:
            assert after is None and purges_after == purges_before + 1  # clean-up owed, in the same commit
        else:
            assert after["status"] == target
            owes_cleanup = target in (S.FAILED, S.CANCELLED) and origin != target
            assert purges_after == purges_before + owes_cleanup
    else:
        assert not reply["ok"], reply
        assert reply["errorCode"] == states.REFUSAL_CODES.get(variant.command, states.DEFAULT_REFUSAL_CODE), reply
        assert reply["error"]
        assert (after, purges_after) == (before, purges_before)  # nothing changed


def test_the_cases_cover_every_transition_of_the_table():
    exercised = {(v.command, o, v.intended(o)) for v, o in CASES if v.intended(o) in states.targets(v.command, o)}
    table = {(t.command, t.origin, t.target) for t in states.TRANSITIONS if t.command != "CreateDownload"}
    assert exercised == table


def test_create_is_the_only_way_in_and_an_idempotency_key_gives_one_download(sessions):
    key = f"key-{uuidlib.uuid4()}"
    first = bus.CreateDownload(uuid=str(uuidlib.uuid4()), videoURL="http://example.com/a.mp4", ytdlpParameters=[],
                               deadline=1e12, idempotencyKey=key)
    again = first.model_copy(update={"uuid": str(uuidlib.uuid4())})
    with sessions.begin() as session:  # both in one batch: the second must see the first, not yet flushed
        replies = [handlers.apply(session, first), handlers.apply(session, again)]
    assert [r["uuid"] for r in replies] == [first.uuid, first.uuid]
    assert apply(sessions, again)["uuid"] == first.uuid  # and in a later batch
    other = again.model_copy(update={"videoURL": "http://example.com/b.mp4"})
    assert apply(sessions, other)["errorCode"] == "idempotencyKeyConflict"
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(Download)
                               .where(Download.idempotencyKey == key)).scalar_one() == 1
        assert session.execute(select(Download.status).where(Download.uuid == first.uuid)).scalar_one() == S.PENDING


def test_start_attempt_delivered_twice_counts_one_attempt(sessions):
    uuid = make_row(sessions, S.PENDING)
    start = bus.StartAttempt(uuid=uuid, attemptToken="run-a")
    assert [apply(sessions, start)["attempt"] for _ in range(3)] == [2, 2, 2]
    assert snapshot(sessions, uuid)[0]["attempts"] == 2
    assert apply(sessions, bus.StartAttempt(uuid=uuid, attemptToken="run-b"))["errorCode"] == "transitionNotAllowed"


def test_finish_delivered_twice_is_acknowledged_once_and_a_stale_result_is_refused(sessions):
    uuid = make_row(sessions, S.PENDING)
    apply(sessions, bus.StartAttempt(uuid=uuid, attemptToken="run-a"))
    finish = bus.FinishDownload(uuid=uuid, attempt=2, attemptToken="run-a", status="COMPLETED",
                                fileName=f"{uuid}.mp4", sizeInBytes=5)
    first, second = apply(sessions, finish), apply(sessions, finish)
    assert first["ok"] and second["ok"] and second["status"] == "COMPLETED"
    stale = bus.FinishDownload(uuid=uuid, attempt=1, attemptToken="run-old", status="FAILED", errorMessage="x")
    refused = apply(sessions, stale)
    assert refused["errorCode"] == "staleAttempt" and refused["status"] == "COMPLETED"
    assert snapshot(sessions, uuid)[0]["status"] == S.COMPLETED


def test_unknown_download_is_refused_by_every_command(sessions):
    for variant in VARIANTS:
        reply = apply(sessions, variant.build(str(uuidlib.uuid4())))
        assert reply["errorCode"] == "downloadNotFound", (variant.command, reply)


def test_retention_delete_refuses_a_download_that_is_running_again(sessions):
    uuid = make_row(sessions, S.PENDING)
    reply = apply(sessions, bus.DeleteDownload(uuid=uuid, onlyIfFinished=True))
    assert reply["errorCode"] == "downloadNotFinished" and snapshot(sessions, uuid)[0] is not None


def test_handlers_are_registered_for_every_state_changing_command():
    assert {command.__name__ for command in handlers.HANDLERS} >= {t.command for t in states.TRANSITIONS}
