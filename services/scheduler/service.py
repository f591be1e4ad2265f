"""The scheduler: starts PENDING downloads in the order received, never more than MAXCONCURRENTDOWNLOADS.

The queue itself is the database (PENDING rows by insertion order), so a restart loses nothing. In memory it
keeps only which downloads the runner is working on, confirmed by the runner's heartbeats: a download that
the runner stops reporting without having ended it, or that belonged to a runner that restarted, is put back
in the queue (or FAILED after MAXATTEMPTS) through the DB writer.

Its process also runs the publisher's threads (services.publisher): one interpreter fewer, and both are
small loops over the database that only wait.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import zmq

from common import bus
from common.failures import REQUEUE_REASONS
from common.config import Settings, load_settings
from common.lifecycle import exit_with_supervisor
from common.logs import setup_logging
from common.sqlite_reader import SQLiteReader, sql_time
from common.statuses import DownloadKindEnum, DownloadStatusEnum, utcnow
from services.publisher.service import Publisher

log = logging.getLogger("scheduler")

RUNNER_SILENCE_SECONDS = 5.0
UNCONFIRMED_SECONDS = 15.0
RESCAN_SECONDS = 1.0


@dataclass
class Dispatched:
    dispatched_at: float
    confirmed: bool = False


class Scheduler:
    def __init__(self, settings: Settings, publisher: Publisher):
        self.settings = settings
        self.publisher = publisher  # its threads share this process; this loop sends its heartbeat
        self.inbox = bus.bind(settings, "scheduler", zmq.PULL)
        self.to_runner = bus.Pusher(settings, "runner")
        self.requester = bus.Requester(settings)
        self.alive = bus.Heartbeat(settings, "scheduler")
        self.database = SQLiteReader(settings.SQLITEFILEPATH)
        self.running: dict[str, Dispatched] = {}
        self.runner_id: str | None = None
        self.runner_seen_at = 0.0
        self.recovered = False

    def run_forever(self) -> None:
        log.info("ready: at most %d downloads at once", self.settings.MAXCONCURRENTDOWNLOADS)
        next_scan = 0.0
        while True:
            dirty = False
            wait = min(next_scan - time.monotonic(), self.alive.beat(), self.publisher.beat())
            if self.inbox.poll(max(0.0, wait) * 1000):
                for message in bus.drain(self.inbox):
                    dirty |= self.handle(message)
            if dirty or time.monotonic() >= next_scan:
                try:
                    self.check_subscriptions()
                except Exception as error:
                    log.warning("subscription checks postponed: %s", error)
                try:
                    self.dispatch()
                except Exception as error:  # database not there yet, or DB writer away: try again soon
                    log.warning("dispatch postponed: %s", error)
                next_scan = time.monotonic() + RESCAN_SECONDS

    def handle(self, message: bus.Message) -> bool:
        """Updates what is running; True when a slot may have freed or work arrived."""
        if isinstance(message, bus.DownloadQueued):
            return True
        if isinstance(message, bus.DownloadEnded):
            self.running.pop(message.uuid, None)
            return True
        if isinstance(message, bus.RunnerHeartbeat):
            self.on_heartbeat(message)
            return True
        return False

    def on_heartbeat(self, beat: bus.RunnerHeartbeat) -> None:
        active = set(beat.active)
        if beat.runnerId != self.runner_id:
            if self.runner_id is not None:
                log.info("runner restarted (now %s)", beat.runnerId)
            self.runner_id = beat.runnerId
            for uuid, entry in list(self.running.items()):
                if uuid not in active and entry.dispatched_at < beat.runnerStartedAt:
                    self.lost(uuid, "runnerStopped")
        self.runner_seen_at = time.monotonic()
        for uuid in active:
            entry = self.running.setdefault(uuid, Dispatched(time.time()))
            entry.confirmed = True
        now = time.time()
        for uuid, entry in list(self.running.items()):
            if uuid in active:
                continue
            if entry.confirmed:
                self.lost(uuid, "runnerLostDownload")
            elif now - entry.dispatched_at > UNCONFIRMED_SECONDS:
                self.lost(uuid, "neverStarted")
        if not self.recovered:
            self.recover_orphans(active)

    def recover_orphans(self, active: set[str]) -> None:
        """At start: DOWNLOADING rows that no runner works on go back to the queue."""
        if not self.database.path.exists():
            return
        orphans = self.database.rows(  # playlist parents follow their children
            "SELECT uuid FROM downloads WHERE status = ? AND downloadKind != ?",
            (DownloadStatusEnum.DOWNLOADING.value, DownloadKindEnum.PLAYLIST.value))
        for (uuid,) in orphans:
            if uuid not in active:
                self.requeue(uuid, "serviceRestarted")
        self.recovered = True

    def lost(self, uuid: str, reason_code: str) -> None:
        self.running.pop(uuid, None)
        self.requeue(uuid, reason_code)

    def requeue(self, uuid: str, reason_code: str) -> None:
        """reason_code: one of common.failures.REQUEUE_REASONS."""
        reason = REQUEUE_REASONS[reason_code]
        log.info("download=%s requeued: %s", uuid, reason)
        self.requester.request_until_committed(bus.RequeueDownload(
            uuid=uuid, reason=reason, reasonCode=reason_code, maxAttempts=self.settings.MAXATTEMPTS))

    def check_subscriptions(self) -> None:
        """Queues every subscription check that is due (the schedule is in the database: a restart keeps it,
        and a check missed while the service was down runs once)."""
        due = self.database.records("SELECT uuid, nextCheckAt FROM subscriptions WHERE nextCheckAt <= ?",
                                    (sql_time(utcnow()),))
        for subscription in due:
            reply = self.requester.request(
                bus.CheckSubscription(uuid=subscription.uuid, dueAt=subscription.nextCheckAt.timestamp()),
                timeout=self.settings.BUSTIMEOUTSECONDS)
            if reply.ok:
                log.info("subscription=%s check queued as download=%s", subscription.uuid, reply.uuid)

    def dispatch(self) -> None:
        if not self.recovered or time.monotonic() - self.runner_seen_at > RUNNER_SILENCE_SECONDS:
            return
        free = self.settings.MAXCONCURRENTDOWNLOADS - len(self.running)
        if free <= 0:
            return
        rows = self.database.records(
            "SELECT uuid, videoURL, ytdlpParameters, cookieProfile, playlistMaxItems, subscriptionUUID "
            "FROM downloads WHERE status = ? ORDER BY id LIMIT ?",
            (DownloadStatusEnum.PENDING.value, free + len(self.running)))
        for row in rows:
            if free <= 0:
                break
            if row.uuid in self.running:
                continue
            self.running[row.uuid] = Dispatched(time.time())
            self.to_runner.send(bus.StartDownload(
                uuid=row.uuid, videoURL=row.videoURL, ytdlpParameters=row.ytdlpParameters, dispatchedAt=time.time(),
                cookieProfile=row.cookieProfile, playlistMaxItems=row.playlistMaxItems,
                subscriptionUUID=row.subscriptionUUID))
            log.info("download=%s dispatched (%d running)", row.uuid, len(self.running))
            free -= 1


def main() -> None:
    exit_with_supervisor()
    setup_logging("scheduler")
    settings = load_settings()
    publisher = Publisher(settings)
    publisher.start()
    Scheduler(settings, publisher).run_forever()
