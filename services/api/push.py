"""Push in the API: waitForDownload and /api/events, fed by the DownloadChanged messages the DB writer
publishes after each commit.

Each API worker process has one `ChangeHub`: a greenlet on a SUB socket that hands every event to the
listeners registered by waiting requests (gevent queues: a waiter holds no thread and no database
connection while it waits). Event ids are the rows of the events table, so the hub fills any gap it sees
(a message lost while it was connecting, a DB writer that died between commit and publish) from the
database, and checks for missed events every CATCH_UP_SECONDS even when the bus is quiet.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import gevent
import zmq
from gevent.queue import Empty, Full, Queue

from common import bus
from common.config import Settings
from common.sqlite_reader import SQLiteReader
from common.statuses import FINISHED_STATUSES

log = logging.getLogger("api")

CATCH_UP_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
LISTENER_QUEUE = 10_000  # events a slow /api/events client may lag behind before it is told to reload
REPLAY_PAGE = 500
FINAL = {status.value for status in FINISHED_STATUSES}


@dataclass(frozen=True)
class ChangeEvent:
    id: int
    uuid: str
    data: str


class Listener:
    def __init__(self, uuid: str | None):
        self.uuid = uuid
        self.queue: Queue = Queue(LISTENER_QUEUE)
        self.overflowed = False

    def offer(self, event: ChangeEvent) -> None:
        try:
            self.queue.put_nowait(event)
        except Full:
            self.overflowed = True

    def waiting(self, limit: int = 1000) -> list[ChangeEvent]:
        """The events already queued, without waiting (one batch of the DB writer comes as one burst)."""
        events = []
        while len(events) < limit:
            try:
                events.append(self.queue.get_nowait())
            except Empty:
                break
        return events

    def get(self, timeout: float) -> ChangeEvent | None:
        """The next event, or None after timeout seconds without one."""
        try:
            return self.queue.get(timeout=max(0.0, timeout))
        except Empty:
            return None


class ChangeHub:
    def __init__(self, settings: Settings, database: SQLiteReader):
        self.settings, self.database = settings, database
        self.listeners: set[Listener] = set()
        self.last_id: int | None = None
        self.worker: gevent.Greenlet | None = None

    def listen(self, uuid: str | None = None) -> Listener:
        """A listener for one download's events (or all of them); register it before reading the state it
        waits to change, so that no change falls between the read and the wait."""
        if self.worker is None or self.worker.dead:
            self.worker = gevent.spawn(self._run)
        listener = Listener(uuid)
        self.listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def _run(self) -> None:
        socket = bus.subscriber(self.settings)
        log.info("following the DB writer's changes (pid %d)", os.getpid())
        while True:
            try:
                if self.last_id is None:
                    self.last_id = self.newest_id()
                if socket.poll(CATCH_UP_SECONDS * 1000, zmq.POLLIN):
                    for message in bus.drain(socket):
                        if isinstance(message, bus.DownloadChanged):
                            self._receive(ChangeEvent(message.eventId, message.uuid, message.data))
                else:
                    self._catch_up()
            except Exception as error:  # a database read that failed: tried again on the next round
                log.warning("change hub: %s", error)
                gevent.sleep(CATCH_UP_SECONDS)

    def _receive(self, event: ChangeEvent) -> None:
        if self.last_id is not None:
            if event.id <= self.last_id:
                return
            if event.id > self.last_id + 1:
                self._catch_up(before=event.id)
        self._dispatch(event)

    def _catch_up(self, before: int | None = None) -> None:
        if self.last_id is None:
            return
        for event in self.events_after(self.last_id, before=before):
            self._dispatch(event)

    def _dispatch(self, event: ChangeEvent) -> None:
        self.last_id = event.id if self.last_id is None else max(self.last_id, event.id)
        for listener in list(self.listeners):
            if listener.uuid is None or listener.uuid == event.uuid:
                listener.offer(event)

    # --- the events table --------------------------------------------------------------------------------------
    def _read(self, sql: str, parameters: tuple = ()) -> list | None:
        """Rows, or None while the database does not exist yet."""
        if not self.database.exists():
            return None
        return self.database.rows(sql, parameters)

    def newest_id(self) -> int | None:
        rows = self._read("SELECT max(id) FROM events")
        return (rows[0][0] or 0) if rows is not None else None

    def oldest_id(self) -> int | None:
        rows = self._read("SELECT min(id) FROM events")
        return rows[0][0] if rows else None

    def events_after(self, after: int, before: int | None = None, limit: int = REPLAY_PAGE) -> list[ChangeEvent]:
        rows = self._read("SELECT id, uuid, data FROM events WHERE id > ? AND id < ? ORDER BY id LIMIT ?",
                          (after, before if before is not None else 2 ** 63 - 1, limit)) or []
        return [ChangeEvent(*row) for row in rows]


def sse(event: ChangeEvent | None = None, kind: str | None = None, data: str | None = None,
        event_id: int | None = None) -> str:
    """One server-sent event (text/event-stream framing)."""
    lines = []
    if kind:
        lines.append(f"event: {kind}")
    if event is not None:
        event_id, data = event.id, event.data
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data if data is not None else '{}'}")
    return "\n".join(lines) + "\n\n"


def event_stream(hub: ChangeHub, listener: Listener, last_event_id: str | None) -> Iterator[str]:
    """The /api/events body: the events after Last-Event-ID (replayed from the database, or `reload` when
    they are no longer kept), then every new event as it is committed, and a heartbeat comment every 15 s."""
    try:
        yield "retry: 2000\n: connected\n\n"
        sent = None
        if last_event_id is not None:
            sent = yield from replay(hub, last_event_id)
        while True:
            event = listener.get(HEARTBEAT_SECONDS)
            if listener.overflowed:
                newest = hub.newest_id()
                yield sse(kind="reload", event_id=newest, data=json.dumps({"reason": "this client fell behind"}))
                return
            if event is None:
                yield ": heartbeat\n\n"
                continue
            fresh = [e for e in (event, *listener.waiting()) if sent is None or e.id > sent]
            if fresh:  # one write for a burst: a DB writer batch of 50 progress events costs one send, not 50
                yield "".join(sse(e) for e in fresh)
                sent = fresh[-1].id
    finally:
        hub.forget(listener)


def replay(hub: ChangeHub, last_event_id: str) -> Iterator[str]:
    """Sends what a reconnecting client missed; returns the id of the last event it now has."""
    newest = hub.newest_id() or 0
    try:
        after = int(last_event_id)
    except ValueError:
        after = -1
    oldest = hub.oldest_id()
    kept_from = oldest if oldest is not None else newest + 1
    if after < 0 or after > newest or after < kept_from - 1:
        yield sse(kind="reload", event_id=newest,
                  data=json.dumps({"reason": "the events after this Last-Event-ID are no longer kept"}))
        return newest
    while True:
        page = hub.events_after(after)
        for event in page:
            yield sse(event)
            after = event.id
        if len(page) < REPLAY_PAGE:
            return after
