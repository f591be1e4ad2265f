"""The download state machine, in one place: every status change, the command that causes it and who sends
that command. The DB writer applies a command only through `check` (services/dbwriter/handlers.py); a
command that does not match a row below is refused with the command's refusal code and changes nothing.

    (new) --CreateDownload--> PENDING --StartAttempt--> DOWNLOADING --FinishDownload--> COMPLETED | FAILED
    PENDING | DOWNLOADING --CancelDownload--> CANCELLED;  FAILED | CANCELLED --RetryDownload--> PENDING
    DOWNLOADING --RequeueDownload--> PENDING (attempts left) | FAILED (MAXATTEMPTS reached)
    any --DeleteDownload--> (row gone)
    Playlists: DOWNLOADING --ExpandPlaylist--> DOWNLOADING (children created) | FAILED (no entries); then the
    parent follows its children (ChildrenChanged): COMPLETED, FAILED or CANCELLED once all are finished,
    DOWNLOADING again when one is queued again.
"""
from __future__ import annotations

from dataclasses import dataclass

from common.statuses import DownloadStatusEnum as S

DELETED = None  # the target of DeleteDownload: the row no longer exists
NEW = None  # the origin of CreateDownload: there is no row yet


@dataclass(frozen=True)
class Transition:
    command: str
    origin: S | None
    target: S | None
    sender: str
    why: str


TRANSITIONS: tuple[Transition, ...] = (
    Transition("CreateDownload", NEW, S.PENDING, "api", "a client queues a download (initiateDownload)"),
    Transition("StartAttempt", S.PENDING, S.DOWNLOADING, "runner", "yt-dlp is about to run: one more attempt"),
    Transition("FinishDownload", S.DOWNLOADING, S.COMPLETED, "runner", "yt-dlp made a checked media file"),
    Transition("FinishDownload", S.DOWNLOADING, S.FAILED, "runner",
               "yt-dlp failed, stalled, or ran longer than MAXDOWNLOADSECONDS"),
    Transition("RequeueDownload", S.DOWNLOADING, S.PENDING, "scheduler, runner",
               "the runner, or the download's yt-dlp process, was lost and attempts are left"),
    Transition("RequeueDownload", S.DOWNLOADING, S.FAILED, "scheduler, runner",
               "the runner, or the download's yt-dlp process, was lost and MAXATTEMPTS attempts were made"),
    Transition("RequeueDownload", S.PENDING, S.PENDING, "scheduler",
               "dispatched but never started (no attempt was counted): stays queued"),
    Transition("CancelDownload", S.PENDING, S.CANCELLED, "api", "a client cancels (cancelDownload)"),
    Transition("CancelDownload", S.DOWNLOADING, S.CANCELLED, "api", "a client cancels; the runner stops yt-dlp"),
    Transition("RetryDownload", S.FAILED, S.PENDING, "api", "a client retries (retryDownload)"),
    Transition("RetryDownload", S.CANCELLED, S.PENDING, "api", "a client retries (retryDownload)"),
    *(Transition("DeleteDownload", status, DELETED, "api, publisher",
                 "a client deletes it (deleteDownload) or retention expires it (finished rows only)")
      for status in S),
    Transition("ExpandPlaylist", S.DOWNLOADING, S.DOWNLOADING, "runner",
               "yt-dlp listed a playlist: the parent's children are created PENDING"),
    Transition("ExpandPlaylist", S.DOWNLOADING, S.FAILED, "runner", "yt-dlp listed a playlist without entries"),
    Transition("ExpandPlaylist", S.DOWNLOADING, S.COMPLETED, "runner",
               "a subscription's check found no entry it had not queued before"),
    Transition("ChildrenChanged", S.DOWNLOADING, S.COMPLETED, "dbwriter",
               "a playlist's last child finished and all its children are COMPLETED"),
    Transition("ChildrenChanged", S.DOWNLOADING, S.FAILED, "dbwriter",
               "a playlist's last child finished and some of its children FAILED"),
    Transition("ChildrenChanged", S.DOWNLOADING, S.CANCELLED, "dbwriter",
               "a playlist's last child finished, none FAILED and some were CANCELLED"),
    *(Transition("ChildrenChanged", status, S.DOWNLOADING, "dbwriter",
                 "a child of a finished playlist is queued again (retryDownload on the child or the parent)")
      for status in (S.COMPLETED, S.FAILED, S.CANCELLED)),
    Transition("RecordUpload", S.COMPLETED, S.COMPLETED, "publisher", "the file is in the S3 bucket"),
    Transition("RecordUploadFailure", S.COMPLETED, S.COMPLETED, "publisher", "an S3 upload attempt failed"),
)

REFUSAL_CODES = {"CancelDownload": "downloadNotOngoing", "RetryDownload": "downloadNotRetryable",
                 "FinishDownload": "staleAttempt", "ExpandPlaylist": "staleAttempt"}
DERIVED = ("ChildrenChanged",)  # no message: the DB writer applies it while handling a child's command
DEFAULT_REFUSAL_CODE = "transitionNotAllowed"


class Refused(Exception):
    """A command the state machine (or a handler's own check) does not allow; nothing was changed."""

    def __init__(self, code: str, message: str, status: S | None = None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def targets(command: str, origin: S | None) -> set[S | None]:
    return {t.target for t in TRANSITIONS if t.command == command and t.origin == origin}


def check(command: str, origin: S | None, target: S | None) -> None:
    """Raises Refused unless `command` may move a row from `origin` to `target`."""
    if target not in targets(command, origin):
        allowed = sorted({t.origin.value for t in TRANSITIONS if t.command == command and t.origin is not None})
        where = origin.value if origin is not None else "a new download"
        raise Refused(REFUSAL_CODES.get(command, DEFAULT_REFUSAL_CODE),
                      f"{command} is not allowed on {where}"
                      + (f" (only on {', '.join(allowed)})" if allowed else ""), origin)


def table() -> str:
    """The transitions as a Markdown table (docs/reliability.md shows it)."""
    rows = ["| Command | From | To | Sent by | When |", "|---|---|---|---|---|"]
    for t in TRANSITIONS:
        if t.command == "DeleteDownload" and t.origin != S.PENDING:
            continue
        origin = "any" if t.command == "DeleteDownload" else (t.origin.value if t.origin else "(new)")
        target = t.target.value if t.target else "(deleted)"
        rows.append(f"| {t.command} | {origin} | {target} | {t.sender} | {t.why} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
