"""The webhook sender, a thread of the publisher (in the scheduler's process): works through the outbox (webhook_deliveries rows the DB
writer writes in the transaction of each final state) and POSTs each body to its callbackURL.

A delivery is retried with doubling waits (WEBHOOKRETRYSECONDS, at most 1 h apart) until a 2xx answer or
WEBHOOKMAXATTEMPTS attempts; each outcome is committed by the DB writer before the next delivery is tried,
and the outbox is the database, so a restart (even kill -9) resumes where it stopped. A 2xx is final: the
delivery is never sent again. The one window: a sender killed after the receiver answered 2xx and before
the DB writer committed it sends that delivery once more after its restart (receivers deduplicate with
X-PRT-Delivery).

Every POST goes to an address checked by the same guard as video URLs (common.network.blocked_reason):
the name is resolved once, every address it resolves to is checked, and the connection is made to that
checked address (TLS still verifies the name); redirects are not followed.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

from common import bus
from common.config import Settings
from common.network import BLOCKED_ADDRESS, blocked_reason
from common.sqlite_reader import SQLiteReader, sql_time

log = logging.getLogger("publisher")

POLL_SECONDS = 1.0
BATCH = 20
MAX_RETRY_WAIT_SECONDS = 3600.0
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0


def signature(secret: str, body: bytes) -> str:
    """The X-PRT-Signature value: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by WEBHOOKSECRET>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RefusedAddress(Exception):
    pass


def post_to_checked_address(url: str, body: bytes, headers: dict[str, str], blocked) -> int:
    """POSTs body to url through a connection to an address the guard allows; returns the HTTP status."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    for info in infos:
        reason = blocked_reason(str(info[4][0]), blocked)
        if reason:
            raise RefusedAddress(f"{BLOCKED_ADDRESS}: {parts.hostname} resolves to {info[4][0]} ({reason})")
    address = str(infos[0][4][0])
    import urllib3  # only once there is a webhook to send: ssl, http.client and urllib3 are ~4 MiB of a process

    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
    if parts.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False,
                                           server_hostname=parts.hostname, assert_hostname=parts.hostname)
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        response = pool.urlopen("POST", path, body=body, headers={**headers, "Host": parts.netloc.rsplit("@", 1)[-1]},
                                redirect=False, retries=False, preload_content=False)
        status = response.status
        response.release_conn()
        return status
    finally:
        pool.close()


class WebhookSender:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.database = SQLiteReader(settings.SQLITEFILEPATH)
        self.requester = bus.Requester(settings)  # not shared with the publisher's work thread

    def due(self) -> list:
        now = datetime.now(timezone.utc)
        return self.database.rows(
            "SELECT id, uuid, callbackURL, body, attempts FROM webhook_deliveries "
            "WHERE state = 'pending' AND nextAttemptAt <= ? ORDER BY nextAttemptAt, id LIMIT ?",
            (sql_time(now), BATCH))

    def seconds_until_next(self) -> float:
        rows = self.database.records(
            "SELECT min(nextAttemptAt) AS nextAttemptAt FROM webhook_deliveries WHERE state = 'pending'")
        if not rows or rows[0].nextAttemptAt is None:
            return POLL_SECONDS
        next_at = rows[0].nextAttemptAt
        return min(POLL_SECONDS, max(0.0, (next_at - datetime.now(timezone.utc)).total_seconds()))

    def retry_wait(self, attempts: int) -> float:
        return min(MAX_RETRY_WAIT_SECONDS, self.settings.WEBHOOKRETRYSECONDS * 2 ** (attempts - 1))

    def deliver(self, delivery_id: int, uuid: str, url: str, body_text: str, attempts: int) -> None:
        body = body_text.encode()
        headers = {"Content-Type": "application/json", "User-Agent": "prt-videodownloader-webhook",
                   "X-PRT-Delivery": str(delivery_id)}
        if self.settings.WEBHOOKSECRET:
            headers["X-PRT-Signature"] = signature(self.settings.WEBHOOKSECRET, body)
        try:
            status = post_to_checked_address(url, body, headers, self.settings.BLOCKEDURLNETWORKS)
            error = None if 200 <= status < 300 else f"the receiver answered HTTP {status}"
        except Exception as problem:  # refused, unreachable, malformed, timed out: an attempt, counted
            error = f"{type(problem).__name__}: {problem}"[:500]
        attempts += 1
        if error is None:
            command = bus.RecordCallbackAttempt(deliveryId=delivery_id, outcome="delivered")
            log.info("download=%s webhook %d delivered to %s (attempt %d)", uuid, delivery_id, url, attempts)
        elif attempts >= self.settings.WEBHOOKMAXATTEMPTS:
            command = bus.RecordCallbackAttempt(deliveryId=delivery_id, outcome="failed", error=error)
            log.warning("download=%s webhook %d given up after %d attempts: %s", uuid, delivery_id, attempts, error)
        else:
            wait = self.retry_wait(attempts)
            command = bus.RecordCallbackAttempt(deliveryId=delivery_id, outcome="retry", error=error,
                                                retryAt=time.time() + wait)
            log.warning("download=%s webhook %d attempt %d failed (retry in %.1f s): %s", uuid, delivery_id,
                        attempts, wait, error)
        self.requester.request_until_committed(command)

    def run_forever(self) -> None:
        while True:
            try:
                for delivery in self.due():
                    self.deliver(*delivery)
                wait = self.seconds_until_next()
            except Exception as error:  # database not there yet, unreadable: tried again shortly
                log.warning("webhook scan postponed: %s", error)
                wait = POLL_SECONDS
            time.sleep(wait)


def start_sender(settings: Settings) -> threading.Thread:
    sender = threading.Thread(target=WebhookSender(settings).run_forever, name="publisher-webhooks", daemon=True)
    sender.start()
    return sender
