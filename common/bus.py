"""The message bus: every message the services exchange, its socket addresses, and the socket helpers.

Commands that a caller must rely on go to the DB writer through `Requester` and are answered only after
commit; everything else is a one-way PUSH. Messages carry a version field and travel as JSON.
Every command carries the moment its caller gives up (`Envelope.deadline`): the DB writer never commits a
command after it, so "no answer" always means "nothing changed", and a command re-sent after a timeout is
never applied twice.

Messages are msgspec structs (tagged by class name in the "type" field): decoding checks every field as
pydantic did, at a tenth of its memory in each service (docs/performance.md).
"""
from __future__ import annotations

import logging
import threading
import time
import uuid as uuidlib
from datetime import datetime
from collections.abc import Iterator
from typing import Annotated, Literal, Union

import zmq
import msgspec
from msgspec import Meta, field

from common.config import Settings

log = logging.getLogger(__name__)

ENDPOINTS = ("dbwriter-commands", "dbwriter-events", "scheduler", "runner", "publisher", "dbwriter-changes")


class Part(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A value inside a message."""


class Message(Part, tag_field="type", tag=True, kw_only=True):
    v: Literal[1] = 1

    @property
    def type(self) -> str:
        return type(self).__name__


class YtdlpInfo(Part):
    """What the runner's warm yt-dlp (its zygote) found when it started: its version and JS runtimes."""
    version: str
    # e.g. ['deno 2.9.8']; empty: none found
    jsRuntimes: list[str] = field(default_factory=list)
    # Why the last yt-dlp update was not switched to, if it failed
    problem: str | None = None


# --- commands to the DB writer (acknowledged after commit) -------------------------------------------------

class CreateDownload(Message):
    uuid: str
    videoURL: str
    ytdlpParameters: list[str]
    # Epoch seconds after which the caller has given up: do not create.
    deadline: float
    # The client's Idempotency-Key: a second CreateDownload with it answers the first UUID.
    idempotencyKey: str | None = None
    # Name of the cookie profile yt-dlp gets a copy of.
    cookieProfile: str | None = None
    # Webhook receiver of the download's final states (checked).
    callbackURL: str | None = None
    # Expand a playlist or channel URL into at most this many child downloads.
    playlistMaxItems: Annotated[int, Meta(ge=1)] | None = None


class PlaylistEntry(Part):
    url: str
    title: str | None = None
    # yt-dlp's id of the entry (a subscription's archive key; else the URL)
    key: str | None = None


class ExpandPlaylist(Message):
    """From the runner once yt-dlp's flat extraction listed a playlist: the parent becomes PLAYLIST and its
    children are created PENDING, all in one transaction; sent again (same parent), it creates nothing more."""
    uuid: str
    entries: list[PlaylistEntry]
    attemptToken: str | None = None
    title: str | None = None


class CreateSubscription(Message):
    """From the API: a subscription whose first check is due at once."""
    uuid: str
    url: str
    checkEveryMinutes: Annotated[int, Meta(ge=1)]
    maxItemsPerCheck: Annotated[int, Meta(ge=1)]
    ytdlpParameters: list[str]


class DeleteSubscription(Message):
    """Removes the subscription and its archive; the downloads it made stay."""
    uuid: str


class CheckSubscription(Message):
    """Queues a check (a playlist download of the subscription's URL) and sets the next one a period from now.
    From the scheduler with dueAt, the nextCheckAt it saw: a check already made for it is not made again."""
    uuid: str
    # Epoch seconds; None: check now (checkSubscriptionNow).
    dueAt: float | None = None


class StartAttempt(Message):
    """Asked by the runner before it starts yt-dlp: counts the attempt and marks the row DOWNLOADING."""
    uuid: str
    # Made by the runner for this yt-dlp run: a re-delivered StartAttempt counts once.
    attemptToken: str | None = None


class FinishDownload(Message):
    uuid: str
    attempt: int
    status: Literal["COMPLETED", "FAILED"]
    sizeInBytes: int | None = None
    fileName: str | None = None
    # FAILED: one sentence for a person (common/failures.py).
    errorMessage: str | None = None
    attemptToken: str | None = None
    # FAILED: one of common.failures.FAILURE_CLASSES.
    errorCode: str | None = None
    # FAILED: yt-dlp's (or the runner's) technical line, no paths.
    errorDetail: str | None = None
    retryable: bool | None = None
    videoTitle: str | None = None
    videoDurationSeconds: float | None = None
    videoUploader: str | None = None
    extractor: str | None = None
    webpageURL: str | None = None
    # COMPLETED: <uuid>.jpg next to the video, if written.
    thumbnailFileName: str | None = None
    # The yt-dlp version the attempt ran with.
    ytdlpVersion: str | None = None


class RequeueDownload(Message):
    """Sent by the scheduler when the runner that owned an attempt is gone: PENDING again, or FAILED at the limit."""
    uuid: str
    reason: str
    maxAttempts: int
    # One of common.failures.REQUEUE_REASONS: why the attempt was lost (runnerLost at the limit).
    reasonCode: str | None = None


class RecordUpload(Message):
    """From the publisher once the file is in the bucket: the S3 link becomes available."""
    uuid: str
    s3Key: str


class RecordUploadFailure(Message):
    uuid: str
    error: str


class CancelDownload(Message):
    """PENDING or DOWNLOADING → CANCELLED; the API then tells the runner to stop the process."""
    uuid: str


class DeleteDownload(Message):
    """Removes the row first (no new link is handed out), then the caller purges the files."""
    uuid: str
    # Refuse unless COMPLETED, FAILED or CANCELLED (retention).
    onlyIfFinished: bool = False


class RetryDownload(Message):
    """FAILED or CANCELLED → PENDING, a new attempt on the same UUID."""
    uuid: str


class PurgeDone(Message):
    """From the publisher once a purge list entry's S3 object and files are removed."""
    purgeId: int


class RecordCallbackAttempt(Message):
    """From the publisher after each webhook POST: delivered (a 2xx came back), retry later, or failed for good."""
    deliveryId: int
    outcome: Literal["delivered", "retry", "failed"]
    # Epoch seconds of the next attempt (outcome retry).
    retryAt: float | None = None
    error: str | None = None


class Ping(Message):
    """Answered with when the DB writer last heard each service's heartbeat (for the health endpoint)."""
    # Also the counts the DB writer keeps (common.metrics), for /api/metrics
    withMetrics: bool = False


class MetricFamily(Part):
    """One counter or histogram as the DB writer counted it (common.metrics)."""
    name: str
    documentation: str
    kind: Literal["counter", "histogram"]
    labelNames: list[str] = field(default_factory=list)
    # Counter: (label values, value) per series
    samples: list[tuple[list[str], float]] = field(default_factory=list)
    # Histogram: upper bounds; counts per bucket (not cumulative), the last one above every bound; sum
    buckets: list[float] = field(default_factory=list)
    bucketCounts: list[int] = field(default_factory=list)
    sum: float = 0.0


class Reply(Message):
    requestId: str
    ok: bool
    error: str | None = None
    errorCode: str | None = None
    attempt: int | None = None
    status: str | None = None
    fileName: str | None = None
    s3Key: str | None = None
    seen: dict[str, float] | None = None
    uuid: str | None = None
    ytdlp: YtdlpInfo | None = None
    # Children of a playlist the command stopped while DOWNLOADING (the API tells the runner).
    uuids: list[str] | None = None
    # Ping(withMetrics=True): the counts the DB writer keeps
    metrics: list[MetricFamily] | None = None


# --- published by the DB writer after commit (PUB on dbwriter-changes) ---------------------------------------

class DownloadChanged(Message):
    """One committed change of a download, sent only after its transaction committed. eventId is the row id
    of the change in the events table (AUTOINCREMENT): increasing, never reused, the same after restarts,
    so a subscriber that sees a gap reads the missing events from the database."""
    eventId: int
    uuid: str
    # The event as /api/events sends it: a JSON object naming downloadUUID, downloadStatus and the changed item
    # fields, exactly as stored.
    data: str


# --- one-way events ------------------------------------------------------------------------------------------

class ProgressUpdate(Message):
    uuid: str
    attempt: int
    progress: float | None = None
    sizeInBytes: int | None = None
    speedBytesPerSecond: float | None = None
    etaSeconds: int | None = None


class DownloadQueued(Message):
    """Tells the scheduler a new PENDING row exists (it also finds PENDING rows by itself)."""
    uuid: str


class StartDownload(Message):
    uuid: str
    videoURL: str
    ytdlpParameters: list[str]
    dispatchedAt: float
    cookieProfile: str | None = None
    # Expand the URL as a playlist first (issue 19).
    playlistMaxItems: int | None = None
    # A subscription's check: a single video is one entry.
    subscriptionUUID: str | None = None


class DownloadEnded(Message):
    """From the runner once the final state of an attempt is committed (or the attempt was refused)."""
    uuid: str


class RunnerHeartbeat(Message):
    runnerId: str
    runnerStartedAt: float
    active: list[str]


class CancelRequested(Message):
    """To the runner: stop this download's yt-dlp process group and remove its partial files."""
    uuid: str


class PurgeFiles(Message):
    """To the publisher: work through the purge list now (the list itself is in the database)."""
    uuid: str
    s3Key: str | None = None


class ServiceHeartbeat(Message):
    """Every service tells the DB writer it is alive, about once a second."""
    service: str
    # From the runner, once its zygote is warm.
    ytdlp: YtdlpInfo | None = None


class DownloadCompleted(Message):
    """Tells the publisher a file is ready to be uploaded."""
    uuid: str


class YtdlpExited(Message):
    """From the runner, for each yt-dlp process that ran a job: the DB writer counts it
    (prt_ytdlp_exit_codes_total)."""
    uuid: str
    returnCode: int


class S3UploadAttempted(Message):
    """From the publisher, for each upload attempt: the DB writer counts it (prt_s3_uploads_total)."""
    uuid: str
    result: Literal["uploaded", "failed"]


class ParameterChecked(Message):
    """From the API, for each check of yt-dlp parameters: the DB writer counts who answered it
    (prt_parameter_checks_total): the runner's yt-dlp, or the API itself while the runner was away."""
    by: Literal["runner", "api"]


AnyMessage = Union[CreateDownload, StartAttempt, FinishDownload, RequeueDownload, RecordUpload, RecordUploadFailure,
                   CancelDownload, DeleteDownload, RetryDownload, PurgeDone, Ping, ExpandPlaylist, CreateSubscription,
                   DeleteSubscription, CheckSubscription, Reply, ProgressUpdate, DownloadQueued,
                   StartDownload, DownloadEnded, RunnerHeartbeat, CancelRequested, PurgeFiles, ServiceHeartbeat,
                   DownloadCompleted, RecordCallbackAttempt, DownloadChanged, YtdlpExited, S3UploadAttempted,
                   ParameterChecked]
Command = Union[CreateDownload, StartAttempt, FinishDownload, RequeueDownload, RecordUpload, RecordUploadFailure,
                CancelDownload, DeleteDownload, RetryDownload, PurgeDone, Ping, RecordCallbackAttempt, ExpandPlaylist,
                CreateSubscription, DeleteSubscription, CheckSubscription]


class Envelope(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What travels on a request socket: the command and the id its reply will carry."""
    requestId: str
    body: AnyMessage
    # Epoch seconds after which the caller no longer waits.
    deadline: float | None = None


_message_decoder = msgspec.json.Decoder(AnyMessage)
_envelope_decoder = msgspec.json.Decoder(Envelope)


def encode(message: Message | Envelope) -> bytes:
    return msgspec.json.encode(message)


def decode(data: bytes) -> Message:
    """The message, its fields checked; ValueError (msgspec.ValidationError) when malformed."""
    return _message_decoder.decode(data)


def decode_envelope(data: bytes) -> Envelope:
    return _envelope_decoder.decode(data)


# --- addresses and sockets ------------------------------------------------------------------------------------

def address(settings: Settings, endpoint: str) -> str:
    index = ENDPOINTS.index(endpoint)
    if settings.BUSBASEADDRESS:
        host, port = settings.BUSBASEADDRESS.removeprefix("tcp://").rsplit(":", 1)
        return f"tcp://{host}:{int(port) + index}"
    return f"ipc://{settings.RUNPATH / (endpoint + '.sock')}"


def _bind_address(settings: Settings, endpoint: str) -> str:
    if settings.BUSBASEADDRESS:
        return "tcp://*:" + address(settings, endpoint).rsplit(":", 1)[1]
    return address(settings, endpoint)


def context() -> zmq.Context:
    """The process's ZeroMQ context: gevent-friendly sockets (zmq.green) once gevent has patched the process
    (the API's gunicorn worker), so that waiting on a socket lets the other requests run."""
    try:
        from gevent import monkey
    except ImportError:
        return zmq.Context.instance()
    if monkey.is_module_patched("socket"):
        from zmq import green
        return green.Context.instance()
    return zmq.Context.instance()


def drain(socket: zmq.Socket, limit: int | None = None) -> Iterator[Message]:
    """The messages waiting on a PULL socket (at most limit), without blocking; malformed ones are logged
    and dropped."""
    received = 0
    while limit is None or received < limit:
        received += 1
        try:
            data = socket.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        try:
            yield decode(data)
        except ValueError as error:
            log.warning("malformed message dropped: %s", str(error).splitlines()[0])


def bind(settings: Settings, endpoint: str, socket_type: int) -> zmq.Socket:
    socket = context().socket(socket_type)
    socket.setsockopt(zmq.LINGER, 0)
    if socket_type == zmq.PUB:
        socket.setsockopt(zmq.SNDHWM, 100_000)
    if socket_type == zmq.PULL:
        socket.setsockopt(zmq.RCVHWM, 100_000)
    socket.bind(_bind_address(settings, endpoint))
    return socket


class Pusher:
    """One-way sender. Messages wait in ZeroMQ's queue while the receiver is down (up to the high-water mark).
    Safe to share between threads (the runner's jobs and its main loop send on the same ones): a ZeroMQ socket
    is not, so sends take turns."""

    def __init__(self, settings: Settings, endpoint: str):
        self.endpoint = endpoint
        self.socket = context().socket(zmq.PUSH)
        self.socket.setsockopt(zmq.LINGER, 1000)
        self.socket.setsockopt(zmq.SNDHWM, 100_000)
        self.socket.connect(address(settings, endpoint))
        self._lock = threading.Lock()

    def send(self, message: Message) -> bool:
        payload = encode(message)
        try:
            with self._lock:
                self.socket.send(payload, flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            log.warning("bus queue to %s full, dropped %s", self.endpoint, message.type)
            return False

    def close(self) -> None:
        self.socket.close()


class Heartbeat:
    """Sends ServiceHeartbeat to the DB writer at most once per interval; call beat() from a main loop that
    never blocks (the publisher's, from the scheduler's loop while its threads live: Publisher.beat)."""

    def __init__(self, settings: Settings, service: str, interval: float = 1.0):
        self.pusher = Pusher(settings, "dbwriter-events")
        self.message = ServiceHeartbeat(service=service)
        self.interval = interval
        self.next_at = 0.0

    def beat(self) -> float:
        """Sends when due; returns seconds until the next beat is due."""
        now = time.monotonic()
        if now >= self.next_at:
            self.pusher.send(self.message)
            self.next_at = now + self.interval
        return self.next_at - now


def subscriber(settings: Settings) -> zmq.Socket:
    """A SUB socket receiving every DownloadChanged the DB writer publishes (reconnects by itself)."""
    socket = context().socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVHWM, 100_000)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(address(settings, "dbwriter-changes"))
    return socket


class BusTimeout(Exception):
    pass


DEADLINE_SHARE = 0.8  # the DB writer must have committed within this share of the caller's timeout
RETRYABLE_ERROR_CODES = ("serviceUnavailable", "requestExpired")  # nothing was committed: send again


class Requester:
    """Sends a command to the DB writer and waits for its reply; not thread-safe (one per thread)."""

    def __init__(self, settings: Settings, endpoint: str = "dbwriter-commands"):
        self._address = address(settings, endpoint)
        self._socket: zmq.Socket | None = None

    def _connect(self) -> zmq.Socket:
        if self._socket is None:
            self._socket = context().socket(zmq.DEALER)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.connect(self._address)
        return self._socket

    def request(self, command: Command, timeout: float) -> Reply:
        socket = self._connect()
        request_id = uuidlib.uuid4().hex
        envelope = Envelope(requestId=request_id, body=command, deadline=time.time() + timeout * DEADLINE_SHARE)
        socket.send_multipart([b"", encode(envelope)])
        deadline = time.monotonic() + timeout
        while True:
            # one last look without waiting: a reply that arrived while this thread was not scheduled counts
            remaining = max(0.0, deadline - time.monotonic())
            if not socket.poll(remaining * 1000, zmq.POLLIN):
                break
            reply = decode(socket.recv_multipart()[-1])
            if isinstance(reply, Reply) and reply.requestId == request_id:
                return reply
        # The DB writer drops the command once its deadline passed; dropping the socket discards it sooner.
        self.close()
        raise BusTimeout(f"no answer from {self._address} within {timeout:.1f}s")

    def request_until_committed(self, command: Command, attempt_timeout: float = 2.0,
                                stop: threading.Event | None = None) -> Reply | None:
        """Sends a command whose effect must not be lost (final states) until the DB writer gives a definite
        answer: a committed change (ok) or a refusal of the command itself; never gives up on a timeout or
        on a commit that failed. None only when `stop` is set."""
        delay = 0.2
        while stop is None or not stop.is_set():
            try:
                reply = self.request(command, attempt_timeout)
                if reply.ok or reply.errorCode not in RETRYABLE_ERROR_CODES:
                    return reply
                problem = reply.error
            except BusTimeout as error:
                problem = str(error)
            log.warning("%s for %s not committed (%s); retrying", command.type, getattr(command, "uuid", "-"),
                        problem)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        return None

    request_until_answered = request_until_committed  # the earlier name, kept for callers elsewhere

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class ThreadLocalRequester(threading.local):
    """A Requester per thread, for multi-threaded callers such as the API."""

    def __init__(self, settings: Settings):
        self.requester = Requester(settings)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
