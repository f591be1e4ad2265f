"""The error class of a failed yt-dlp run, decided inside the yt-dlp process from yt-dlp's own exception
objects (see common/failures.py for the codes).

yt-dlp reports every error through YoutubeDL.trouble (report_error), while the exception is being handled:
a DownloadError or ExtractorError whose exc_info or cause holds the original exception (an HTTPError with
its status, a TransportError, an OSError with its errno, GeoRestrictedError, UnsupportedError...). Where a
retry loop gives up, the error is reported after the exception was handled: RetryManager.report_retry is
watched for that. yt-dlp has no exception type for a few outcomes (a requested format that is not offered,
a sign-in wall, a private video, a file above --max-filesize): those are told by yt-dlp's own fixed wording
or, for sign-in, by yt-dlp's login hints, which always name --cookies.
"""
from __future__ import annotations

import errno
import socket
import ssl
import sys
from dataclasses import dataclass

_DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SIGN_IN = ("--cookies", "sign in", "sign-in", "log in", "login", "logged in", "registered users",
            "confirm your age", "age-restricted", "age restricted", "not a bot", "captcha")
_UNAVAILABLE = ("premiere", "will begin", "not currently live", "is upcoming", "members-only", "members only",
                "this live event", "video unavailable", "is not available", "not available anymore")
_REMOVED = ("has been removed", "was removed", "been deleted", "does not exist", "no longer available",
            "video not found", "terminated")
_FORMAT_NOT_OFFERED = "Requested format is not available"
_MAX_FILESIZE = "larger than max-filesize"
_MIN_FILESIZE = "smaller than min-filesize"


@dataclass(frozen=True)
class Classified:
    code: str
    http_status: int | None = None


def causes(error: BaseException | None) -> list[BaseException]:
    """The error and every exception it carries: yt-dlp's exc_info and cause, UnavailableVideoError's err,
    Python's __cause__ and __context__ (outermost first, each once)."""
    found: list[BaseException] = []
    todo = [error]
    while todo and len(found) < 20:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is seen for seen in found):
            continue
        found.append(current)
        exc_info = getattr(current, "exc_info", None)
        todo += [exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None,
                 getattr(current, "cause", None), getattr(current, "err", None),
                 current.__cause__, current.__context__]
    return found


def classify(error: BaseException | None, message: str = "") -> Classified:
    """The code of one error yt-dlp reported (error: the exception being handled, None when there was none;
    message: yt-dlp's error line)."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import (ExtractorError, GeoRestrictedError, PostProcessingError, UnsupportedError,
                              UserNotLive)

    chain = causes(error)
    for item in chain:
        if isinstance(item, GeoRestrictedError):
            return Classified("geoRestricted")
        if getattr(item, "prt_login_required", False):
            return Classified("loginRequired")
        if isinstance(item, UnsupportedError):
            return Classified("unsupportedURL")
        if isinstance(item, UserNotLive):
            return Classified("videoUnavailable")
    for item in chain:
        if isinstance(item, HTTPError):
            return Classified("videoNotFound" if item.status in (404, 410) else "httpError", item.status)
        if isinstance(item, OSError) and item.errno in _DISK_FULL_ERRNOS:
            return Classified("diskFull")
    for item in chain:
        if isinstance(item, (TransportError, ConnectionError, TimeoutError, socket.gaierror, socket.timeout,
                             ssl.SSLError)):
            return Classified("networkError")
    stated = [(str(item.orig_msg), item.expected) for item in chain if isinstance(item, ExtractorError)]
    if any(text.startswith(_FORMAT_NOT_OFFERED) for text, _ in stated):
        return Classified("formatUnavailable")
    for text in (text.lower() for text, expected in stated if expected):  # the site's own words
        if "private" in text:  # "Private video. Sign in if you've been granted access": not a sign-in wall
            return Classified("videoUnavailable")
        if any(word in text for word in _SIGN_IN):
            return Classified("loginRequired")
        if any(word in text for word in _REMOVED):
            return Classified("videoNotFound")
        if any(word in text for word in _UNAVAILABLE):
            return Classified("videoUnavailable")
    if any(isinstance(item, PostProcessingError) for item in chain) and "No space left on device" in message:
        return Classified("diskFull")
    return Classified("ytdlpError")


class FailureRecorder:
    """Watches yt-dlp in this process and keeps the last error it reported with its class."""

    def __init__(self):
        self.code: str | None = None
        self.http_status: int | None = None
        self.detail: str | None = None
        self._gave_up: BaseException | None = None

    def install(self) -> None:
        from yt_dlp import YoutubeDL
        from yt_dlp.downloader.http import HttpFD
        from yt_dlp.extractor.common import InfoExtractor
        from yt_dlp.utils import ExtractorError, RetryManager

        recorder = self
        trouble, report_retry = YoutubeDL.trouble, RetryManager.report_retry
        screen, login_required = HttpFD.to_screen, InfoExtractor.raise_login_required

        def watched_trouble(ydl, message=None, tb=None, is_error=True):
            if is_error:
                recorder.record(sys.exception() or recorder._gave_up, message or "")
            recorder._gave_up = None
            return trouble(ydl, message, tb, is_error)

        def watched_report_retry(e, count, retries, **kwargs):
            if count > retries:  # the error callback reports it next, outside any except block
                recorder._gave_up = e if isinstance(e, BaseException) else None
            return report_retry(e, count, retries, **kwargs)

        def watched_screen(downloader, message, *args, **kwargs):
            for words, code in ((_MAX_FILESIZE, "fileTooLarge"), (_MIN_FILESIZE, "ytdlpError")):
                if words in str(message):  # yt-dlp only says so, and ends without a file
                    recorder.set(code, None, str(message).strip().removeprefix("[download] "))
            return screen(downloader, message, *args, **kwargs)

        def tagged_login_required(extractor, *args, **kwargs):
            try:
                return login_required(extractor, *args, **kwargs)
            except ExtractorError as error:
                error.prt_login_required = True
                raise

        YoutubeDL.trouble = watched_trouble
        RetryManager.report_retry = staticmethod(watched_report_retry)
        HttpFD.to_screen = watched_screen
        InfoExtractor.raise_login_required = tagged_login_required

    def record(self, error: BaseException | None, message: str) -> None:
        classified = classify(error, message)
        self.set(classified.code, classified.http_status, message.strip().removeprefix("ERROR:").strip())

    def record_crash(self, error: BaseException) -> None:
        """An exception that escaped yt-dlp's main (yt-dlp printed nothing about it)."""
        classified = classify(error, str(error))
        self.set(classified.code, classified.http_status, f"{type(error).__name__}: {error}")

    def set(self, code: str, http_status: int | None, detail: str) -> None:
        self.code, self.http_status, self.detail = code, http_status, detail

    def verdict(self, refusals: list[str]) -> dict | None:
        """What the FAILURE marker carries: the address guard's refusal wins over what yt-dlp made of it."""
        if refusals:
            return {"code": "blockedAddress", "detail": refusals[0], "httpStatus": None}
        if self.code is None:
            return None
        return {"code": self.code, "detail": self.detail, "httpStatus": self.http_status}
