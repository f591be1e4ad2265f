"""The download state machine (common/states.py) as the DB writer enforces it: every command from every
status, against a real SQLite file migrated like production, through the DB writer's own handlers and unit of
work; rows are set up and read back with the SQLAlchemy models, as the schema defines them."""
from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from sqlite3 import Connection
from typing import Callable

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from common import bus, states
from common.db import upgrade_schema, writer_connection, writer_engine
from common.models import Download, DownloadStatusEnum as S, Purge
from services.dbwriter import handlers, rows
from services.dbwriter.rows import transaction


@dataclass
class Database:
    connection: Connection  # the DB writer's, for its handlers
    sessions: sessionmaker[Session]  # the models', to set rows up and read them back


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("states") / "states.sqlite"
    engine = writer_engine(path)
    upgrade_schema(engine)
    connection = writer_connection(path)
    yield Database(connection, sessionmaker(engine, expire_on_commit=False))
    connection.close()
    engine.dispose()


class RolledBack(Exception):
    pass


def apply(db, command: bus.Message) -> dict:
    try:
        with transaction(db.connection) as batch:
            reply = handlers.apply(batch, command)
            if not reply["ok"]:
                raise RolledBack()
    except RolledBack:  # what the DB writer commits for a refusal must be nothing: prove it by reading
        with transaction(db.connection) as fresh:
            fresh.add(rows.Download(uuid=str(uuidlib.uuid4()), videoURL="x", ytdlpParameters=[], status=S.PENDING))
        return reply
    handlers.run_after_commit(batch)
    return reply


def apply_in_place(db, command: bus.Message) -> dict:
    """Applies and commits whatever the handler left in the batch, refusal or not: a refusal must have
    changed nothing even when committed."""
    with transaction(db.connection) as batch:
        reply = handlers.apply(batch, command)
    handlers.run_after_commit(batch)
    return reply


def make_row(db, status: S, **columns) -> str:
    uuid = str(uuidlib.uuid4())
    with db.sessions.begin() as session:
        session.add(Download(uuid=uuid, videoURL="http://example.com/v.mp4", ytdlpParameters=[], status=status,
                             attempts=1, attemptToken="token-1" if status == S.DOWNLOADING else "token-0",
                             fileName=f"{uuid}.mp4" if status == S.COMPLETED else None, **columns))
    return uuid


def snapshot(db, uuid: str) -> tuple[dict | None, int]:
    with db.sessions() as session:
        row = session.execute(select(Download).where(Download.uuid == uuid)).scalar_one_or_none()
        purges = session.execute(select(func.count()).select_from(Purge).where(Purge.uuid == uuid)).scalar_one()
        columns = {c.key: getattr(row, c.key) for c in Download.__table__.columns} if row else None
        return columns, purges


@dataclass
class Variant:
    command: str
    build: Callable[[str], bus.Message]
    intended: Callable[[S], S | None]
    columns: dict | None = None  # of the row the command is tried on


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
    Variant("ExpandPlaylist", lambda u: bus.ExpandPlaylist(uuid=u, attemptToken="token-1", title="A list", entries=[
        bus.PlaylistEntry(url=f"http://example.com/{u}/{i}.mp4") for i in range(2)]), lambda o: S.DOWNLOADING),
    Variant("ExpandPlaylist", lambda u: bus.ExpandPlaylist(uuid=u, attemptToken="token-1", entries=[]),
            lambda o: S.FAILED),
    Variant("ExpandPlaylist", lambda u: bus.ExpandPlaylist(uuid=u, attemptToken="token-1", entries=[]),
            lambda o: S.COMPLETED, {"subscriptionUUID": "a-subscription-with-nothing-new"}),
    Variant("RecordUpload", lambda u: bus.RecordUpload(uuid=u, s3Key=f"{u}.mp4"), lambda o: S.COMPLETED),
    Variant("RecordUploadFailure", lambda u: bus.RecordUploadFailure(uuid=u, error="S3 down"),
            lambda o: S.COMPLETED),
]
CASES = [(variant, origin) for variant in VARIANTS for origin in S]


@pytest.mark.parametrize("variant,origin", CASES,
                         ids=[f"{v.command}-{v.intended(o).value if v.intended(o) else 'deleted'}-from-{o.value}"
                              for v, o in CASES])
def test_every_command_from_every_status(db, variant: Variant, origin: S):
    uuid = make_row(db, origin, **(variant.columns or {}))
    target = variant.intended(origin)
    before, purges_before = snapshot(db, uuid)
    reply = apply_in_place(db, variant.build(uuid))
    after, purges_after = snapshot(db, uuid)
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
    table = {(t.command, t.origin, t.target) for t in states.TRANSITIONS
             if t.command not in ("CreateDownload", *states.DERIVED)}
    assert exercised == table


def test_create_is_the_only_way_in_and_an_idempotency_key_gives_one_download(db):
    key = f"key-{uuidlib.uuid4()}"
    first = bus.CreateDownload(uuid=str(uuidlib.uuid4()), videoURL="http://example.com/a.mp4", ytdlpParameters=[],
                               deadline=1e12, idempotencyKey=key)
    again = msgspec.structs.replace(first, uuid=str(uuidlib.uuid4()))
    with transaction(db.connection) as batch:  # both in one batch: the second must see the first, not yet flushed
        replies = [handlers.apply(batch, first), handlers.apply(batch, again)]
    assert [r["uuid"] for r in replies] == [first.uuid, first.uuid]
    assert apply(db, again)["uuid"] == first.uuid  # and in a later batch
    other = msgspec.structs.replace(again, videoURL="http://example.com/b.mp4")
    assert apply(db, other)["errorCode"] == "idempotencyKeyConflict"
    with db.sessions() as session:
        assert session.execute(select(func.count()).select_from(Download)
                               .where(Download.idempotencyKey == key)).scalar_one() == 1
        assert session.execute(select(Download.status).where(Download.uuid == first.uuid)).scalar_one() == S.PENDING


def test_start_attempt_delivered_twice_counts_one_attempt(db):
    uuid = make_row(db, S.PENDING)
    start = bus.StartAttempt(uuid=uuid, attemptToken="run-a")
    assert [apply(db, start)["attempt"] for _ in range(3)] == [2, 2, 2]
    assert snapshot(db, uuid)[0]["attempts"] == 2
    assert apply(db, bus.StartAttempt(uuid=uuid, attemptToken="run-b"))["errorCode"] == "transitionNotAllowed"


def test_finish_delivered_twice_is_acknowledged_once_and_a_stale_result_is_refused(db):
    uuid = make_row(db, S.PENDING)
    apply(db, bus.StartAttempt(uuid=uuid, attemptToken="run-a"))
    finish = bus.FinishDownload(uuid=uuid, attempt=2, attemptToken="run-a", status="COMPLETED",
                                fileName=f"{uuid}.mp4", sizeInBytes=5)
    first, second = apply(db, finish), apply(db, finish)
    assert first["ok"] and second["ok"] and second["status"] == "COMPLETED"
    stale = bus.FinishDownload(uuid=uuid, attempt=1, attemptToken="run-old", status="FAILED", errorMessage="x")
    refused = apply(db, stale)
    assert refused["errorCode"] == "staleAttempt" and refused["status"] == "COMPLETED"
    assert snapshot(db, uuid)[0]["status"] == S.COMPLETED


def test_unknown_download_is_refused_by_every_command(db):
    for variant in VARIANTS:
        reply = apply(db, variant.build(str(uuidlib.uuid4())))
        assert reply["errorCode"] == "downloadNotFound", (variant.command, reply)


def test_retention_delete_refuses_a_download_that_is_running_again(db):
    uuid = make_row(db, S.PENDING)
    reply = apply(db, bus.DeleteDownload(uuid=uuid, onlyIfFinished=True))
    assert reply["errorCode"] == "downloadNotFinished" and snapshot(db, uuid)[0] is not None


def test_handlers_are_registered_for_every_state_changing_command():
    assert {command.__name__ for command in handlers.HANDLERS} >= {t.command for t in states.TRANSITIONS
                                                                   if t.command not in states.DERIVED}


# --- playlists (issue 19) ------------------------------------------------------------------------------------

def expanded_playlist(db, count: int) -> tuple[str, list[str]]:
    """A DOWNLOADING parent whose expansion listed `count` entries: its UUID and its children's."""
    parent = make_row(db, S.DOWNLOADING)
    expand = bus.ExpandPlaylist(uuid=parent, attemptToken="token-1", title="My list", entries=[
        bus.PlaylistEntry(url=f"http://example.com/{i}.mp4", title=f"Entry {i}") for i in range(count)])
    assert apply(db, expand)["ok"]
    with db.sessions() as session:
        children = session.execute(select(Download.uuid).where(Download.parentDownloadUUID == parent)
                                   .order_by(Download.id)).scalars().all()
    return parent, children


def run_child(db, child: str, status: str) -> dict:
    apply(db, bus.StartAttempt(uuid=child, attemptToken=f"run-{child}"))
    return apply(db, bus.FinishDownload(uuid=child, attempt=1, attemptToken=f"run-{child}", status=status,
                                              fileName=f"{child}.mp4" if status == "COMPLETED" else None,
                                              sizeInBytes=1, errorCode="videoNotFound" if status == "FAILED" else None))


def test_an_expansion_applied_twice_creates_each_child_once(db):
    parent, children = expanded_playlist(db, 3)
    again = bus.ExpandPlaylist(uuid=parent, attemptToken="token-1", title="My list", entries=[
        bus.PlaylistEntry(url=f"http://example.com/{i}.mp4") for i in range(3)])
    assert apply(db, again)["ok"]
    with db.sessions() as session:
        assert session.execute(select(func.count()).select_from(Download)
                               .where(Download.parentDownloadUUID == parent)).scalar_one() == 3
    row = snapshot(db, parent)[0]
    assert (row["downloadKind"], row["videoTitle"], row["status"], row["childrenTotal"]) == (
        "PLAYLIST", "My list", S.DOWNLOADING, 3)
    assert [snapshot(db, c)[0]["videoTitle"] for c in children] == ["Entry 0", "Entry 1", "Entry 2"]
    # a runner that lost the parent's job (killed after the expansion) does not requeue the parent
    assert apply(db, bus.RequeueDownload(uuid=parent, reason="runner died", maxAttempts=1))["ok"]
    assert snapshot(db, parent)[0]["status"] == S.DOWNLOADING


def test_the_playlist_limit_keeps_the_first_entries(db):
    parent = str(uuidlib.uuid4())
    apply(db, bus.CreateDownload(uuid=parent, videoURL="http://example.com/list", ytdlpParameters=[],
                                       deadline=1e12, playlistMaxItems=2))
    apply(db, bus.StartAttempt(uuid=parent, attemptToken="t"))
    apply(db, bus.ExpandPlaylist(uuid=parent, attemptToken="t", entries=[
        bus.PlaylistEntry(url=f"http://example.com/{i}.mp4") for i in range(5)]))
    with db.sessions() as session:
        urls = session.execute(select(Download.videoURL).where(Download.parentDownloadUUID == parent)
                               .order_by(Download.id)).scalars().all()
    assert urls == ["http://example.com/0.mp4", "http://example.com/1.mp4"]


def test_the_parent_follows_its_children(db):
    parent, children = expanded_playlist(db, 3)
    run_child(db, children[0], "COMPLETED")
    assert snapshot(db, parent)[0]["status"] == S.DOWNLOADING
    run_child(db, children[1], "COMPLETED")
    run_child(db, children[2], "FAILED")
    row = snapshot(db, parent)[0]
    assert (row["status"], row["childrenTotal"], row["childrenCompleted"], row["childrenFailed"]) == (
        S.FAILED, 3, 2, 1)
    assert row["errorCode"] == "playlistIncomplete" and "1 of the playlist's 3 entries failed" in row["errorMessage"]
    reply = apply(db, bus.RetryDownload(uuid=parent))  # retries the failed child only
    assert reply["ok"] and reply["status"] == "DOWNLOADING" and reply["uuids"] == [children[2]]
    assert snapshot(db, children[2])[0]["status"] == S.PENDING
    assert snapshot(db, children[0])[0]["status"] == S.COMPLETED
    assert snapshot(db, parent)[0]["errorCode"] is None
    apply(db, bus.StartAttempt(uuid=children[2], attemptToken="again"))
    apply(db, bus.FinishDownload(uuid=children[2], attempt=2, attemptToken="again", status="COMPLETED",
                                       fileName="x.mp4", sizeInBytes=1))
    row = snapshot(db, parent)[0]
    assert (row["status"], row["childrenCompleted"], row["childrenFailed"]) == (S.COMPLETED, 3, 0)
    assert apply(db, bus.RetryDownload(uuid=parent))["errorCode"] == "downloadNotRetryable"


def test_cancel_and_delete_of_a_parent_act_on_its_children(db):
    parent, children = expanded_playlist(db, 3)
    run_child(db, children[0], "COMPLETED")
    apply(db, bus.StartAttempt(uuid=children[1], attemptToken="running"))
    reply = apply(db, bus.CancelDownload(uuid=parent))
    assert reply["ok"] and reply["uuids"] == [children[1]]  # the runner must stop this one
    assert [snapshot(db, c)[0]["status"] for c in children] == [S.COMPLETED, S.CANCELLED, S.CANCELLED]
    assert snapshot(db, parent)[0]["status"] == S.CANCELLED
    assert apply(db, bus.CancelDownload(uuid=parent))["errorCode"] == "downloadNotOngoing"
    assert apply(db, bus.RetryDownload(uuid=parent))["status"] == "DOWNLOADING"
    reply = apply(db, bus.DeleteDownload(uuid=parent))
    assert reply["ok"]
    for uuid in (parent, *children):
        row, purges = snapshot(db, uuid)
        assert row is None and purges >= 1


def test_deleting_a_child_updates_the_parent(db):
    parent, children = expanded_playlist(db, 2)
    run_child(db, children[0], "COMPLETED")
    assert apply(db, bus.DeleteDownload(uuid=children[1]))["ok"]
    row = snapshot(db, parent)[0]
    assert (row["status"], row["childrenTotal"], row["childrenCompleted"]) == (S.COMPLETED, 1, 1)


# --- subscriptions (issue 19) --------------------------------------------------------------------------------

def test_a_subscription_queues_each_entry_once_and_a_missed_check_runs_once(db):
    from datetime import timedelta

    from common.models import Subscription, SubscriptionEntry, utcnow

    subscription = str(uuidlib.uuid4())
    assert apply(db, bus.CreateSubscription(uuid=subscription, url="http://example.com/feed", checkEveryMinutes=60,
                                                  maxItemsPerCheck=5, ytdlpParameters=["-f", "best"]))["ok"]
    with db.sessions.begin() as session:  # the service was down for three periods
        session.execute(Subscription.__table__.update().where(Subscription.uuid == subscription)
                        .values(nextCheckAt=utcnow() - timedelta(hours=3)))
    with db.sessions() as session:
        due = session.execute(select(Subscription.nextCheckAt).where(Subscription.uuid == subscription)).scalar_one()
    first = apply(db, bus.CheckSubscription(uuid=subscription, dueAt=due.timestamp()))
    again = apply(db, bus.CheckSubscription(uuid=subscription, dueAt=due.timestamp()))  # re-sent
    assert first["ok"] and again["uuid"] == first["uuid"]
    with db.sessions() as session:
        checks = session.execute(select(Download).where(Download.subscriptionUUID == subscription)).scalars().all()
        assert [(c.uuid, c.playlistMaxItems, c.ytdlpParameters) for c in checks] == [(first["uuid"], 5, ["-f", "best"])]
        next_at = session.execute(select(Subscription.nextCheckAt).where(Subscription.uuid == subscription)).scalar_one()
        assert timedelta(minutes=59) < next_at - utcnow() <= timedelta(minutes=60)

    def check(keys: list[str]) -> tuple[str, list[str]]:
        download = apply(db, bus.CheckSubscription(uuid=subscription))["uuid"]
        apply(db, bus.StartAttempt(uuid=download, attemptToken=f"t-{download}"))
        apply(db, bus.ExpandPlaylist(uuid=download, attemptToken=f"t-{download}", entries=[
            bus.PlaylistEntry(url=f"http://example.com/{key}.mp4", key=key) for key in keys]))
        with db.sessions() as session:
            return download, session.execute(select(Download.videoURL).where(Download.parentDownloadUUID == download)
                                             .order_by(Download.id)).scalars().all()

    assert check(["a", "b"])[1] == ["http://example.com/a.mp4", "http://example.com/b.mp4"]
    nothing_new, urls = check(["a", "b"])
    assert urls == [] and snapshot(db, nothing_new)[0]["status"] == S.COMPLETED
    assert check(["c", "a", "b", "c"])[1] == ["http://example.com/c.mp4"]
    assert apply(db, bus.DeleteSubscription(uuid=subscription))["ok"]
    with db.sessions() as session:
        assert session.execute(select(func.count()).select_from(SubscriptionEntry)
                               .where(SubscriptionEntry.subscriptionUUID == subscription)).scalar_one() == 0
    assert apply(db, bus.CheckSubscription(uuid=subscription))["errorCode"] == "subscriptionNotFound"


def test_a_check_of_a_subscription_deleted_meanwhile_queues_nothing(db):
    subscription = str(uuidlib.uuid4())
    apply(db, bus.CreateSubscription(uuid=subscription, url="http://example.com/feed", checkEveryMinutes=5,
                                           maxItemsPerCheck=5, ytdlpParameters=[]))
    download = apply(db, bus.CheckSubscription(uuid=subscription))["uuid"]
    apply(db, bus.StartAttempt(uuid=download, attemptToken="t"))
    apply(db, bus.DeleteSubscription(uuid=subscription))
    apply(db, bus.ExpandPlaylist(uuid=download, attemptToken="t", entries=[
        bus.PlaylistEntry(url="http://example.com/a.mp4", key="a")]))
    row = snapshot(db, download)[0]
    assert (row["status"], row["childrenTotal"]) == (S.COMPLETED, 0)
