"""What each command does to the database. Every status change goes through `move`, which asks the state
machine (common/states.py); a refused command raises states.Refused before it changes anything.

Handlers take the batch (services/dbwriter/rows.py) and the command and return the reply's fields; what must
only happen once the batch is committed (log lines, metrics) is queued with `after_commit`, because a batch
may be rolled back and applied again without its expired commands.
"""
from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from datetime import datetime, timezone

from datetime import timedelta

from common import bus, failures, metrics, states
from common.statuses import DownloadKindEnum, DownloadStatusEnum as S, utcnow
from services.dbwriter.rows import Batch, Download, Purge, Subscription, SubscriptionEntry, WebhookDelivery

log = logging.getLogger("dbwriter")

Handler = Callable[[Batch, bus.Message], dict]


def after_commit(batch: Batch, action: Callable[[], None]) -> None:
    batch.after_commit.append(action)


def run_after_commit(batch: Batch) -> None:
    actions, batch.after_commit = batch.after_commit, []
    for action in actions:
        action()


def _row(batch: Batch, uuid: str) -> Download:
    row = batch.one(Download, "uuid = ?", (uuid,))
    if row is None:
        raise states.Refused("downloadNotFound", "no such download")
    return row


FINISHED = (S.COMPLETED, S.FAILED, S.CANCELLED)
PLAYLIST = DownloadKindEnum.PLAYLIST.value


def move(batch: Batch, row: Download, command: str, target: S, follow: bool = True) -> None:
    """Changes a row's status as the state machine allows; a playlist's child also updates its parent
    (unless follow=False: a command that changes many children updates the parent once itself)."""
    states.check(command, row.status, target)
    previous, row.status = row.status, target
    if follow and row.parentDownloadUUID is not None and previous != target:
        follow_children(batch, row.parentDownloadUUID)
    if target in (S.COMPLETED, S.FAILED, S.CANCELLED) and previous != target:
        row.finishedAt = utcnow()
        row.speedBytesPerSecond, row.etaSeconds = None, None
        if row.downloadKind != PLAYLIST:  # a playlist's entries are counted, not the playlist
            after_commit(batch, lambda: _count_finished(row, target))
        if target != S.COMPLETED:  # whatever yt-dlp left behind goes, even if the runner that ran it died
            batch.add(Purge(uuid=row.uuid, rowDeleted=False))


def follow_children(batch: Batch, parent_uuid: str) -> None:
    """The parent's counts and status from its children: DOWNLOADING while one is PENDING or DOWNLOADING, else
    COMPLETED when all completed, FAILED when some failed, CANCELLED when none failed and some were cancelled."""
    batch.flush()  # the child's change (lookups read the database)
    parent = batch.one(Download, "uuid = ?", (parent_uuid,))
    if parent is None or parent.downloadKind != PLAYLIST:
        return
    counts = {S[status]: count for status, count in batch.execute(
        'SELECT status, count(*) FROM downloads WHERE "parentDownloadUUID" = ? GROUP BY status', (parent_uuid,))}
    total = sum(counts.values())
    completed, failed = counts.get(S.COMPLETED, 0), counts.get(S.FAILED, 0)
    finished = sum(counts.get(status, 0) for status in FINISHED)
    parent.childrenTotal, parent.childrenCompleted, parent.childrenFailed = total, completed, failed
    parent.progress = round(100.0 * finished / total, 1) if total else None
    if total == 0:
        return
    if finished < total:
        target = S.DOWNLOADING
    else:
        target = S.FAILED if failed else (S.CANCELLED if completed < total else S.COMPLETED)
    if target == S.FAILED:
        set_failure(parent, "playlistIncomplete",
                    f"{failed} of the playlist's {total} entries failed ({completed} completed).",
                    f"childrenTotal={total} childrenCompleted={completed} childrenFailed={failed}",
                    failures.is_retryable("playlistIncomplete"))
    else:
        set_failure(parent, None)
    if parent.status != target:
        if target == S.DOWNLOADING:
            parent.finishedAt = None
        move(batch, parent, "ChildrenChanged", target)
        _info(batch, "download=%s playlist %s: %d of %d children completed, %d failed", parent.uuid,
              target.value, completed, total, failed)


def child_uuid(parent_uuid: str, index: int) -> str:
    """The same parent and entry give the same child UUID: an expansion applied twice creates nothing twice."""
    return str(uuidlib.uuid5(uuidlib.UUID(parent_uuid), f"entry-{index}"))


def _children(batch: Batch, parent: Download) -> list[Download]:
    batch.flush()  # children created earlier in this batch
    return batch.all(Download, '"parentDownloadUUID" = ? ORDER BY id', (parent.uuid,))


def _count_finished(row: Download, status: S) -> None:
    metrics.DOWNLOADS_FINISHED.inc(status.value)
    if status == S.COMPLETED:
        if row.startedAt is not None and row.finishedAt is not None:
            metrics.DOWNLOAD_DURATION.observe((row.finishedAt - row.startedAt).total_seconds())
        if row.sizeInBytes is not None:
            metrics.DOWNLOAD_SIZE.observe(row.sizeInBytes)


def _info(batch: Batch, message: str, *arguments) -> None:
    after_commit(batch, lambda: log.info(message, *arguments))


def create_download(batch: Batch, command: bus.CreateDownload) -> dict:
    if command.idempotencyKey is not None:
        existing = batch.idempotency_keys.get(command.idempotencyKey) or batch.one(
            Download, '"idempotencyKey" = ?', (command.idempotencyKey,))
        if existing is not None:
            if ((existing.videoURL, existing.ytdlpParameters, existing.cookieProfile, existing.callbackURL,
                 existing.playlistMaxItems)
                    != (command.videoURL, command.ytdlpParameters, command.cookieProfile, command.callbackURL,
                        command.playlistMaxItems)):
                raise states.Refused("idempotencyKeyConflict", "this Idempotency-Key was already used for another "
                                                               "video URL, parameters, cookie profile or callbackURL")
            return {"ok": True, "uuid": existing.uuid, "status": existing.status.value}
    states.check("CreateDownload", states.NEW, S.PENDING)
    row = Download(uuid=command.uuid, videoURL=command.videoURL, ytdlpParameters=command.ytdlpParameters,
                   status=S.PENDING, attempts=0, idempotencyKey=command.idempotencyKey,
                   cookieProfile=command.cookieProfile, callbackURL=command.callbackURL,
                   downloadKind=DownloadKindEnum.VIDEO.value, playlistMaxItems=command.playlistMaxItems)
    batch.add(row)
    if command.idempotencyKey is not None:
        batch.idempotency_keys[command.idempotencyKey] = row
    _info(batch, "download=%s created PENDING url=%s", command.uuid, command.videoURL)
    return {"ok": True, "uuid": command.uuid, "status": S.PENDING.value}


def expand_playlist(batch: Batch, command: bus.ExpandPlaylist) -> dict:
    row = _row(batch, command.uuid)
    if row.downloadKind == PLAYLIST:
        return {"ok": True, "status": row.status.value}  # the same expansion again: its children exist
    if row.status != S.DOWNLOADING or (command.attemptToken is not None and row.attemptToken != command.attemptToken):
        raise states.Refused("staleAttempt", f"expansion ignored: the download is {row.status.value}", row.status)
    row.downloadKind = PLAYLIST
    row.videoTitle = (command.title or "")[:1000] or None
    entries = command.entries[:row.playlistMaxItems] if row.playlistMaxItems else command.entries
    if row.subscriptionUUID is not None:
        return _expand_subscription_check(batch, row, entries)
    if not entries:
        code = "playlistEmpty"
        set_failure(row, code, failures.person_message(code), "yt-dlp listed no entries",
                    failures.is_retryable(code))
        row.childrenTotal, row.childrenCompleted, row.childrenFailed = 0, 0, 0
        move(batch, row, "ExpandPlaylist", S.FAILED)
        return {"ok": True, "status": row.status.value}
    states.check("ExpandPlaylist", row.status, S.DOWNLOADING)
    for index, entry in enumerate(entries):
        states.check("CreateDownload", states.NEW, S.PENDING)
        batch.add(Download(uuid=child_uuid(row.uuid, index), videoURL=entry.url,
                           ytdlpParameters=row.ytdlpParameters, status=S.PENDING, attempts=0,
                           downloadKind=DownloadKindEnum.VIDEO.value, parentDownloadUUID=row.uuid,
                           videoTitle=(entry.title or "")[:1000] or None))
    row.childrenTotal, row.childrenCompleted, row.childrenFailed = len(entries), 0, 0
    row.progress = 0.0
    _info(batch, "download=%s playlist expanded: %d children PENDING", row.uuid, len(entries))
    return {"ok": True, "status": row.status.value, "uuids": [child_uuid(row.uuid, i) for i in range(len(entries))]}


def _expand_subscription_check(batch: Batch, row: Download, entries: list[bus.PlaylistEntry]) -> dict:
    """A subscription's check: children only for the entries its archive does not have, each archived with
    its child in this same transaction (so every entry is queued once, whatever checks overlap)."""
    if batch.execute("SELECT id FROM subscriptions WHERE uuid = ?", (row.subscriptionUUID,)).fetchone() is None:
        entries = []  # deleted while this check ran: nothing more is queued for it
    keys = [entry.key or entry.url for entry in entries]
    seen = {key for key, in batch.execute(
        'SELECT "entryKey" FROM subscription_entries WHERE "subscriptionUUID" = ? AND "entryKey" IN '
        f'({", ".join("?" * len(keys))})', (row.subscriptionUUID, *keys))}
    new = []
    for key, entry in zip(keys, entries):
        if key not in seen:
            seen.add(key)
            new.append((key, entry))
    for index, (key, entry) in enumerate(new):
        child = child_uuid(row.uuid, index)
        batch.add(Download(uuid=child, videoURL=entry.url, ytdlpParameters=row.ytdlpParameters, status=S.PENDING,
                           attempts=0, downloadKind=DownloadKindEnum.VIDEO.value, parentDownloadUUID=row.uuid,
                           subscriptionUUID=row.subscriptionUUID, videoTitle=(entry.title or "")[:1000] or None))
        batch.add(SubscriptionEntry(subscriptionUUID=row.subscriptionUUID, entryKey=key, downloadUUID=child))
    row.childrenTotal, row.childrenCompleted, row.childrenFailed = len(new), 0, 0
    if new:
        states.check("ExpandPlaylist", row.status, S.DOWNLOADING)
        row.progress = 0.0
    else:
        row.progress = 100.0
        move(batch, row, "ExpandPlaylist", S.COMPLETED)
    _info(batch, "download=%s subscription=%s check: %d new of %d entries", row.uuid, row.subscriptionUUID,
          len(new), len(entries))
    return {"ok": True, "status": row.status.value}


def _subscription(batch: Batch, uuid: str) -> Subscription:
    subscription = batch.one(Subscription, "uuid = ?", (uuid,))
    if subscription is None:
        raise states.Refused("subscriptionNotFound", "no such subscription")
    return subscription


def create_subscription(batch: Batch, command: bus.CreateSubscription) -> dict:
    batch.add(Subscription(uuid=command.uuid, url=command.url, checkEveryMinutes=command.checkEveryMinutes,
                           maxItemsPerCheck=command.maxItemsPerCheck, ytdlpParameters=command.ytdlpParameters,
                           nextCheckAt=utcnow()))
    _info(batch, "subscription=%s created url=%s every %d min", command.uuid, command.url,
          command.checkEveryMinutes)
    return {"ok": True, "uuid": command.uuid}


def delete_subscription(batch: Batch, command: bus.DeleteSubscription) -> dict:
    subscription = _subscription(batch, command.uuid)
    batch.execute('DELETE FROM subscription_entries WHERE "subscriptionUUID" = ?', (command.uuid,))
    batch.delete(subscription)
    _info(batch, "subscription=%s deleted", command.uuid)
    return {"ok": True}


def check_subscription(batch: Batch, command: bus.CheckSubscription) -> dict:
    """Queues one check as a PENDING playlist download and sets the next check a period from now: checks
    missed while the service was down make one check, not one per missed period."""
    subscription = _subscription(batch, command.uuid)
    now = utcnow()
    if command.dueAt is not None and subscription.nextCheckAt.timestamp() > command.dueAt + 0.001:
        return {"ok": True, "uuid": subscription.lastCheckDownloadUUID}  # this due check was already queued
    states.check("CreateDownload", states.NEW, S.PENDING)
    check = str(uuidlib.uuid4())
    batch.add(Download(uuid=check, videoURL=subscription.url, ytdlpParameters=subscription.ytdlpParameters,
                       status=S.PENDING, attempts=0, downloadKind=DownloadKindEnum.VIDEO.value,
                       playlistMaxItems=subscription.maxItemsPerCheck, subscriptionUUID=subscription.uuid))
    subscription.lastCheckAt, subscription.lastCheckDownloadUUID = now, check
    subscription.nextCheckAt = now + timedelta(minutes=subscription.checkEveryMinutes)
    _info(batch, "subscription=%s check queued as download=%s", subscription.uuid, check)
    return {"ok": True, "uuid": check, "status": S.PENDING.value}


def start_attempt(batch: Batch, command: bus.StartAttempt) -> dict:
    row = _row(batch, command.uuid)
    if command.attemptToken is not None and row.attemptToken == command.attemptToken:
        if row.status != S.DOWNLOADING:
            raise states.Refused(states.DEFAULT_REFUSAL_CODE, f"download is {row.status.value}", row.status)
        return {"ok": True, "attempt": row.attempts}  # the same StartAttempt again: counted once
    if row.status != S.PENDING:
        raise states.Refused(states.DEFAULT_REFUSAL_CODE, f"download is {row.status.value}", row.status)
    move(batch, row, "StartAttempt", S.DOWNLOADING)
    row.attempts += 1
    row.attemptToken = command.attemptToken
    row.startedAt = utcnow()
    row.progress, row.sizeInBytes, row.speedBytesPerSecond, row.etaSeconds = 0.0, None, None, None
    _info(batch, "download=%s DOWNLOADING attempt=%d", row.uuid, row.attempts)
    return {"ok": True, "attempt": row.attempts}


def finish_download(batch: Batch, command: bus.FinishDownload) -> dict:
    row = _row(batch, command.uuid)
    ours = (row.attemptToken == command.attemptToken) if command.attemptToken is not None \
        else row.attempts == command.attempt
    target = S(command.status)
    if ours and row.status == target and row.status != S.DOWNLOADING:
        return {"ok": True, "attempt": row.attempts, "status": row.status.value}  # re-delivered, already applied
    if not ours or row.status != S.DOWNLOADING:
        raise states.Refused("staleAttempt", f"result of attempt {command.attempt} ignored: the download is "
                             f"{row.status.value}, attempt {row.attempts}", row.status)
    states.check("FinishDownload", row.status, target)
    row.ytdlpVersion = command.ytdlpVersion or row.ytdlpVersion
    if target == S.COMPLETED:
        row.progress, row.sizeInBytes, row.fileName = 100.0, command.sizeInBytes, command.fileName
        set_failure(row, None)
        row.thumbnailFileName = command.thumbnailFileName
    else:
        code = command.errorCode or failures.DEFAULT_CODE
        set_failure(row, code, command.errorMessage or failures.person_message(code), command.errorDetail,
                    command.retryable if command.retryable is not None else failures.is_retryable(code))
        row.thumbnailFileName = None  # the runner removed every file of a failed attempt
    row.videoTitle, row.videoDurationSeconds, row.videoUploader = (
        command.videoTitle, command.videoDurationSeconds, command.videoUploader)
    row.extractor, row.webpageURL = command.extractor, command.webpageURL
    move(batch, row, "FinishDownload", target)
    if target == S.COMPLETED:
        _info(batch, "download=%s COMPLETED file=%s size=%s", row.uuid, row.fileName, row.sizeInBytes)
    else:
        _info(batch, "download=%s FAILED %s: %s", row.uuid, row.errorCode, row.errorDetail or row.errorMessage)
    return {"ok": True, "attempt": row.attempts, "status": row.status.value}


def set_failure(row: Download, code: str | None, message: str | None = None, detail: str | None = None,
                retryable: bool | None = None) -> None:
    """The four fields of a FAILED download together (all None otherwise)."""
    row.errorCode, row.errorMessage, row.errorDetail, row.retryable = code, message, detail, retryable


def requeue_download(batch: Batch, command: bus.RequeueDownload) -> dict:
    row = _row(batch, command.uuid)
    if row.downloadKind == PLAYLIST:  # expanded: its runner job is over, its children are the work
        return {"ok": True, "attempt": row.attempts, "status": row.status.value}
    if row.status == S.PENDING:
        move(batch, row, "RequeueDownload", S.PENDING)
        return {"ok": True, "attempt": row.attempts, "status": row.status.value}
    if row.status == S.DOWNLOADING and row.attempts >= command.maxAttempts:
        states.check("RequeueDownload", row.status, S.FAILED)
        code = failures.REQUEUE_FAILURE_CODE  # every requeue reason is the service's own failure
        set_failure(row, code, failures.person_message(code, attempts=row.attempts),
                    f"gave up after {row.attempts} attempts: {command.reason}", failures.is_retryable(code))
        move(batch, row, "RequeueDownload", S.FAILED)
        _info(batch, "download=%s FAILED %s (%s): %s", row.uuid, code, command.reasonCode or "-",
              row.errorDetail)
    else:
        move(batch, row, "RequeueDownload", S.PENDING)
        row.progress, row.speedBytesPerSecond, row.etaSeconds = None, None, None
        _info(batch, "download=%s PENDING again after attempt %d: %s", row.uuid, row.attempts, command.reason)
    return {"ok": True, "attempt": row.attempts, "status": row.status.value}


def cancel_download(batch: Batch, command: bus.CancelDownload) -> dict:
    row = _row(batch, command.uuid)
    if row.downloadKind == PLAYLIST:
        ongoing = [child for child in _children(batch, row) if child.status not in FINISHED]
        if not ongoing:
            raise states.Refused("downloadNotOngoing", f"the playlist is already {row.status.value}", row.status)
        stopped = [child.uuid for child in ongoing if child.status == S.DOWNLOADING]
        for child in ongoing:
            move(batch, child, "CancelDownload", S.CANCELLED, follow=False)
        follow_children(batch, row.uuid)
        _info(batch, "download=%s playlist: %d children CANCELLED", row.uuid, len(ongoing))
        return {"ok": True, "status": row.status.value, "uuids": stopped}
    previous = row.status
    if previous in (S.COMPLETED, S.FAILED, S.CANCELLED):
        raise states.Refused("downloadNotOngoing", f"the download is already {previous.value}", previous)
    move(batch, row, "CancelDownload", S.CANCELLED)
    _info(batch, "download=%s CANCELLED (was %s)", row.uuid, previous.value)
    return {"ok": True, "status": previous.value}


def delete_download(batch: Batch, command: bus.DeleteDownload) -> dict:
    row = _row(batch, command.uuid)
    if command.onlyIfFinished and row.status not in (S.COMPLETED, S.FAILED, S.CANCELLED):
        raise states.Refused("downloadNotFinished", f"the download is {row.status.value} again", row.status)
    states.check("DeleteDownload", row.status, states.DELETED)
    reply = {"ok": True, "status": row.status.value, "fileName": row.fileName, "s3Key": row.s3Key}
    if row.downloadKind == PLAYLIST:
        children = _children(batch, row)
        if command.onlyIfFinished and any(child.status not in FINISHED for child in children):
            raise states.Refused("downloadNotFinished", "some of the playlist's children are not finished",
                                 row.status)
        reply["uuids"] = [child.uuid for child in children if child.status == S.DOWNLOADING]
        for child in children:
            states.check("DeleteDownload", child.status, states.DELETED)
            batch.add(Purge(uuid=child.uuid, fileName=child.fileName, s3Key=child.s3Key or child.fileName,
                            rowDeleted=True))
            batch.delete(child)
    # the object may be in the bucket even without s3Key: an upload can be under way right now
    batch.add(Purge(uuid=row.uuid, fileName=row.fileName, s3Key=row.s3Key or row.fileName, rowDeleted=True))
    batch.delete(row)
    if row.parentDownloadUUID is not None:
        follow_children(batch, row.parentDownloadUUID)
    _info(batch, "download=%s deleted (was %s)", row.uuid, row.status.value)
    return reply


def retry_download(batch: Batch, command: bus.RetryDownload) -> dict:
    row = _row(batch, command.uuid)
    if row.downloadKind == PLAYLIST:
        again = [child for child in _children(batch, row) if child.status in (S.FAILED, S.CANCELLED)]
        if row.status not in (S.FAILED, S.CANCELLED) or not again:
            raise states.Refused("downloadNotRetryable", f"only FAILED or CANCELLED playlists with FAILED or "
                                 f"CANCELLED children can be retried; this one is {row.status.value}", row.status)
        for child in again:
            _retry(batch, child, follow=False)
        follow_children(batch, row.uuid)
        return {"ok": True, "status": row.status.value, "attempt": row.attempts,
                "uuids": [child.uuid for child in again]}
    if row.status not in (S.FAILED, S.CANCELLED):
        raise states.Refused("downloadNotRetryable",
                             f"only FAILED or CANCELLED downloads can be retried; this one is {row.status.value}",
                             row.status)
    _retry(batch, row)
    return {"ok": True, "status": row.status.value, "attempt": row.attempts}


def _retry(batch: Batch, row: Download, follow: bool = True) -> None:
    move(batch, row, "RetryDownload", S.PENDING, follow=follow)
    set_failure(row, None)
    row.progress, row.finishedAt, row.sizeInBytes = None, None, None
    _info(batch, "download=%s PENDING again: retry after %d attempts", row.uuid, row.attempts)


def record_upload(batch: Batch, command: bus.RecordUpload) -> dict:
    row = _row(batch, command.uuid)
    move(batch, row, "RecordUpload", S.COMPLETED)
    row.s3Key, row.s3UploadedAt, row.s3UploadError = command.s3Key, utcnow(), None
    row.s3UploadAttempts += 1
    _info(batch, "download=%s uploaded to S3 key=%s", row.uuid, row.s3Key)
    return {"ok": True}


def record_upload_failure(batch: Batch, command: bus.RecordUploadFailure) -> dict:
    row = _row(batch, command.uuid)
    move(batch, row, "RecordUploadFailure", S.COMPLETED)
    row.s3UploadAttempts += 1
    row.s3UploadError = command.error
    _info(batch, "download=%s S3 upload attempt %d failed: %s", row.uuid, row.s3UploadAttempts, command.error)
    return {"ok": True}


def purge_done(batch: Batch, command: bus.PurgeDone) -> dict:
    purge = batch.get(Purge, command.purgeId)
    if purge is not None:
        batch.delete(purge)
    return {"ok": True}


def record_callback_attempt(batch: Batch, command: bus.RecordCallbackAttempt) -> dict:
    """One webhook POST's outcome, on its outbox row and (while the row exists) the download's callbackStatus.
    A delivered webhook stays delivered: a late or repeated report cannot make it pending again."""
    delivery = batch.get(WebhookDelivery, command.deliveryId)
    if delivery is None or delivery.state != "pending":
        return {"ok": True, "status": delivery.state if delivery else None}
    delivery.attempts += 1
    delivery.state = "pending" if command.outcome == "retry" else command.outcome
    delivery.lastError = command.error
    if command.outcome == "delivered":
        delivery.deliveredAt = utcnow()
    if command.retryAt is not None:
        delivery.nextAttemptAt = datetime.fromtimestamp(command.retryAt, timezone.utc)
    row = batch.one(Download, "uuid = ?", (delivery.uuid,))
    newest, = batch.execute("SELECT max(id) FROM webhook_deliveries WHERE uuid = ?", (delivery.uuid,)).fetchone()
    if row is not None and newest == delivery.id:  # an older final state's webhook does not overwrite a newer one's
        row.callbackState, row.callbackAttempts, row.callbackError = delivery.state, delivery.attempts, command.error
    _info(batch, "download=%s webhook %d %s after %d attempts%s", delivery.uuid, delivery.id, delivery.state,
          delivery.attempts, f": {command.error}" if command.error else "")
    return {"ok": True, "status": delivery.state}


def apply_progress(batch: Batch, event: bus.ProgressUpdate) -> None:
    row = batch.one(Download, "uuid = ?", (event.uuid,))
    if row is None or row.status != S.DOWNLOADING or row.attempts != event.attempt:
        return
    row.progress = event.progress
    row.sizeInBytes = event.sizeInBytes
    row.speedBytesPerSecond = event.speedBytesPerSecond
    row.etaSeconds = event.etaSeconds


HANDLERS: dict[type[bus.Message], Handler] = {
    bus.CreateDownload: create_download,
    bus.StartAttempt: start_attempt,
    bus.FinishDownload: finish_download,
    bus.RequeueDownload: requeue_download,
    bus.CancelDownload: cancel_download,
    bus.DeleteDownload: delete_download,
    bus.RetryDownload: retry_download,
    bus.RecordUpload: record_upload,
    bus.RecordUploadFailure: record_upload_failure,
    bus.PurgeDone: purge_done,
    bus.RecordCallbackAttempt: record_callback_attempt,
    bus.ExpandPlaylist: expand_playlist,
    bus.CreateSubscription: create_subscription,
    bus.DeleteSubscription: delete_subscription,
    bus.CheckSubscription: check_subscription,
}


def apply(batch: Batch, command: bus.Message) -> dict:
    """The reply's fields for one command; a refusal changes nothing."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        return {"ok": False, "errorCode": "notACommand", "error": f"not a command: {command.type}"}
    try:
        return handler(batch, command)
    except states.Refused as refusal:
        return {"ok": False, "errorCode": refusal.code, "error": refusal.message,
                "status": refusal.status.value if refusal.status is not None else None}
