"""Why a download FAILED, as a client can act on it: a documented errorCode, one sentence for a person
(errorMessage), the technical line (errorDetail: yt-dlp's own last error line, paths removed) and whether
trying again as it is may succeed (retryable).

The codes are decided where the facts are: inside the yt-dlp process from yt-dlp's exception objects
(services/runner/ytdlp_failures.py), in the runner (stall, time limit, media check, refused command line)
and in the DB writer (MAXATTEMPTS reached after lost runners, from the requeue's reason code).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DETAIL_MAX_CHARS = 1000


@dataclass(frozen=True)
class FailureClass:
    meaning: str  # for the README table
    sentence: str  # errorMessage; {status}, {seconds}, {attempts} are filled in when known
    retryable: bool
    retryable_note: str = ""


FAILURE_CLASSES: dict[str, FailureClass] = {
    "videoNotFound": FailureClass(
        "HTTP 404 or 410, or the site says the video was removed or does not exist",
        "The site says this video does not exist or was removed{status}.", False),
    "httpError": FailureClass(
        "The site answered with another HTTP error status",
        "The site refused the download with an HTTP error{status}.", False,
        "yes for 408, 425, 429 and 5xx, else no"),
    "networkError": FailureClass(
        "The site could not be reached: name lookup, connection refused or reset, TLS, timeout",
        "The site could not be reached (name lookup, connection, TLS or timeout failure).", True),
    "blockedAddress": FailureClass(
        "The URL, a redirect, a fragment or a file it leads to resolves into a blocked network "
        "(`PRT_VIDEODOWNLOADER_BLOCKEDURLNETWORKS`)",
        "The video URL, or something it leads to, points to an address this service may not connect to.", False),
    "unsupportedURL": FailureClass(
        "yt-dlp has no extractor for the URL and found no video in the page",
        "yt-dlp found no video at this URL: the site or page is not supported.", False),
    "notMedia": FailureClass(
        "What was downloaded has no audio or video stream (a text file, an HTML page...)",
        "The URL served something that is not a video or audio file.", False),
    "formatUnavailable": FailureClass(
        "The requested format (`-f`) is not offered for this video",
        "The requested format is not offered for this video.", False),
    "fileTooLarge": FailureClass(
        "The file is larger than `--max-filesize`",
        "The video is larger than the size limit of this download.", False),
    "diskFull": FailureClass(
        "The server's disk filled up during the download",
        "The server ran out of disk space during the download.", True),
    "loginRequired": FailureClass(
        "The site asks for sign-in: accounts, age checks, bot checks (\"Sign in to confirm you're not a bot\")",
        "The site requires signing in (or an age or bot check) before it serves this video.", False),
    "geoRestricted": FailureClass(
        "The site does not serve the video in the server's country",
        "The site does not offer this video in the server's country.", False),
    "videoUnavailable": FailureClass(
        "Private video, premiere or live stream not started yet, members-only, otherwise unavailable",
        "The video is not available (private, not released yet, or a live stream that has not started).", False),
    "stalled": FailureClass(
        "yt-dlp printed nothing for `PRT_VIDEODOWNLOADER_STALLTIMEOUTSECONDS` and was stopped",
        "The download stalled: nothing happened for {seconds} seconds.", True),
    "tooSlow": FailureClass(
        "The download ran longer than `PRT_VIDEODOWNLOADER_MAXDOWNLOADSECONDS` and was stopped",
        "The download took longer than the {seconds} seconds allowed.", True),
    "runnerLost": FailureClass(
        "`PRT_VIDEODOWNLOADER_MAXATTEMPTS` attempts were each cut short by the service itself (a runner, its "
        "yt-dlp process or the whole service stopped under it)",
        "The download was given up after {attempts} cut short by a failure of the service.", True),
    "refusedParameters": FailureClass(
        "The final check of the yt-dlp command line built from the stored parameters (in the yt-dlp process, "
        "before yt-dlp runs) refused it; yt-dlp was not run",
        "The service refused this download's yt-dlp parameters, so yt-dlp was not run.", False),
    "cookieProfileMissing": FailureClass(
        "The download's cookie profile (`cookieProfile`) was deleted before the download ran",
        "The cookie profile this download needs was deleted; upload it again, then retry.", True),
    "playlistEmpty": FailureClass(
        "`playlistMaxItems` was given and yt-dlp listed a playlist without any entry it can download",
        "The playlist has no entries this service can download.", False),
    "playlistUnreadable": FailureClass(
        "`playlistMaxItems` was given and yt-dlp's flat extraction printed no usable playlist description",
        "yt-dlp could not list the entries of this playlist.", False),
    "playlistIncomplete": FailureClass(
        "A playlist whose children all finished, some of them FAILED (`childrenFailed`); retryDownload on the "
        "playlist retries those",
        "Some entries of the playlist failed.", True),
    "ytdlpError": FailureClass(
        "Anything else yt-dlp (or the file check) reported",
        "yt-dlp could not download this video.", False),
}
DEFAULT_CODE = "ytdlpError"

# Why a download went back to the queue (RequeueDownload.reasonCode): each is the service's own failure, so a
# download that reaches MAXATTEMPTS this way FAILS as runnerLost. The reason text only adds detail.
REQUEUE_REASONS: dict[str, str] = {
    "processLost": "runner lost its yt-dlp process",
    "zygoteLost": "runner lost its yt-dlp zygote",
    "runnerStopped": "the runner stopped during the download",
    "serviceRestarted": "the service restarted during the download",
    "runnerLostDownload": "the runner lost the download",
    "neverStarted": "the runner never started the download",
}
REQUEUE_FAILURE_CODE = "runnerLost"


def is_retryable(code: str, http_status: int | None = None) -> bool:
    if code == "httpError" and http_status is not None:
        return http_status in (408, 425, 429) or 500 <= http_status <= 599
    return FAILURE_CLASSES.get(code, FAILURE_CLASSES[DEFAULT_CODE]).retryable


def person_message(code: str, http_status: int | None = None, seconds: float | None = None,
                   attempts: int | None = None) -> str:
    """errorMessage: one sentence, no path, no errno, no Python repr."""
    template = FAILURE_CLASSES.get(code, FAILURE_CLASSES[DEFAULT_CODE]).sentence
    return template.format(status=f" (HTTP {http_status})" if http_status else "",
                           seconds=f"{seconds:g}" if seconds is not None else "the",
                           attempts="several attempts" if attempts is None else
                           f"{attempts} attempt" + ("" if attempts == 1 else "s"))


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~=?&%+-])(/[^\s'\"():,;]+)")


def scrub_detail(text: str | None, folders: Iterable[Path] = ()) -> str | None:
    """errorDetail: a technical line with every absolute path cut down to its last part (the download's own
    file names stay, the server's folders go), on one line, at most DETAIL_MAX_CHARS."""
    if not text:
        return None
    text = " ".join(text.split())
    for folder in sorted((str(f).rstrip("/") for f in folders if str(f) not in ("", "/")), key=len, reverse=True):
        text = text.replace(folder + "/", "")
    text = _ABSOLUTE_PATH.sub(lambda match: Path(match[1]).name or "/", text)
    return text[:DETAIL_MAX_CHARS] + ("…" if len(text) > DETAIL_MAX_CHARS else "")


def table() -> str:
    """The README's table of error codes."""
    rows = ["| errorCode | Meaning | retryable |", "|---|---|---|"]
    for code, failure in FAILURE_CLASSES.items():
        retryable = failure.retryable_note or ("yes" if failure.retryable else "no")
        rows.append(f"| `{code}` | {failure.meaning} | {retryable} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
