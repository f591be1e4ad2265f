"""The error classes of failed downloads, decided on yt-dlp's own exception objects (the ones loopback cannot
produce: sign-in walls, geo blocks, private videos...) and the rules every errorMessage and errorDetail keep.
The stack tests (tests/test_download_failures.py) produce the others for real."""
from __future__ import annotations

import errno
import io
import re
import socket
import sys

import pytest
from yt_dlp import YoutubeDL
from yt_dlp.downloader.http import HttpFD
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.networking import Response
from yt_dlp.networking.exceptions import (CertificateVerifyError, HTTPError, IncompleteRead, ProxyError,
                                          SSLError, TransportError)
from yt_dlp.utils import (DownloadError, ExtractorError, GeoRestrictedError, PostProcessingError, RetryManager,
                          UnavailableVideoError, UnsupportedError, UserNotLive)

from common import failures
from services.runner.ytdlp_failures import FailureRecorder, classify

YOUTUBE_LOGIN_HINT = ("Use --cookies-from-browser or --cookies for the authentication. See  "
                      "https://github.com/yt-dlp/yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to "
                      "manually pass cookies")


def http_error(status: int) -> HTTPError:
    return HTTPError(Response(io.BytesIO(b""), "https://example.com/v", {}, status=status))


def raised_in(outer, inner: BaseException) -> BaseException:
    """outer built while inner is being handled, as yt-dlp builds its errors (exc_info, __context__)."""
    try:
        raise inner
    except BaseException:
        try:
            raise outer()
        except BaseException as error:
            return error


def as_download_error(error: BaseException) -> DownloadError:
    """What YoutubeDL.trouble raises for an error reported while it is handled."""
    try:
        raise error
    except BaseException as handled:
        exc_info = getattr(handled, "exc_info", None)
        try:
            raise DownloadError(f"ERROR: {handled}", exc_info if exc_info and exc_info[0] else sys.exc_info())
        except DownloadError as wrapped:
            return wrapped


def webpage_error(cause: BaseException) -> ExtractorError:
    """How an extractor reports a failed page request (InfoExtractor._request_webpage)."""
    return raised_in(lambda: ExtractorError(f"Unable to download webpage: {cause}", cause=cause), cause)


@pytest.mark.parametrize("error,code,status", [
    (webpage_error(http_error(404)), "videoNotFound", 404),
    (webpage_error(http_error(410)), "videoNotFound", 410),
    (webpage_error(http_error(500)), "httpError", 500),
    (webpage_error(http_error(403)), "httpError", 403),
    (http_error(429), "httpError", 429),  # during the download: process_info reports the HTTPError itself
    (webpage_error(TransportError("Failed to resolve 'x.invalid' ([Errno -2] Name or service not known)")),
     "networkError", None),
    (webpage_error(TransportError(cause=ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"))),
     "networkError", None),
    (webpage_error(SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number")), "networkError", None),
    (webpage_error(CertificateVerifyError("certificate verify failed")), "networkError", None),
    (webpage_error(ProxyError("proxy refused")), "networkError", None),
    (IncompleteRead(100, 200), "networkError", None),
    (raised_in(lambda: ExtractorError("Unable to download webpage"), socket.timeout("timed out")),
     "networkError", None),
    (raised_in(lambda: ExtractorError("Unable to download webpage"), ConnectionResetError(errno.ECONNRESET, "reset")),
     "networkError", None),
    (UnsupportedError("https://example.com/page"), "unsupportedURL", None),
    (GeoRestrictedError("This video is not available from your location due to geo restriction",
                        countries=["DE"]), "geoRestricted", None),
    (ExtractorError("Requested format is not available. Use --list-formats for a list of available formats",
                    expected=True, video_id="clip", ie="generic"), "formatUnavailable", None),
    (ExtractorError(f"Sign in to confirm you’re not a bot. {YOUTUBE_LOGIN_HINT}", expected=True,
                    video_id="dQw4w9WgXcQ", ie="youtube"), "loginRequired", None),
    (ExtractorError(f"Sign in to confirm your age. This video may be inappropriate for some users. "
                    f"{YOUTUBE_LOGIN_HINT}", expected=True), "loginRequired", None),
    (ExtractorError("This video is only available for registered users. Use --cookies, --cookies-from-browser, "
                    "--username and --password", expected=True), "loginRequired", None),
    (ExtractorError("Private video. Sign in if you've been granted access to this video", expected=True),
     "videoUnavailable", None),
    (ExtractorError("Premieres in 2 hours", expected=True), "videoUnavailable", None),
    (ExtractorError("This live event will begin in 3 days.", expected=True), "videoUnavailable", None),
    (UserNotLive(), "videoUnavailable", None),
    (ExtractorError("Join this channel to get access to members-only content like this video, and other "
                    "exclusive perks.", expected=True), "videoUnavailable", None),
    (ExtractorError("Video unavailable. This video has been removed by the uploader", expected=True),
     "videoNotFound", None),
    (ExtractorError("This video has been removed for violating YouTube's Terms of Service", expected=True),
     "videoNotFound", None),
    (raised_in(lambda: UnavailableVideoError(OSError(errno.ENOSPC, "No space left on device")),
               OSError(errno.ENOSPC, "No space left on device")), "diskFull", None),
    (OSError(errno.ENOSPC, "No space left on device"), "diskFull", None),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), "diskFull", None),
    (ExtractorError("Unable to extract title; please report this issue on https://github.com/yt-dlp/yt-dlp"),
     "ytdlpError", None),
    (ExtractorError("Sign-in module failed to load: login form changed"), "ytdlpError", None),  # not expected
    (None, "ytdlpError", None),
])
def test_each_yt_dlp_exception_gets_its_class(error, code, status):
    found = classify(error)
    assert (found.code, found.http_status) == (code, status)
    if error is not None:  # the same through the DownloadError YoutubeDL.trouble wraps it in
        wrapped = classify(as_download_error(error))
        assert (wrapped.code, wrapped.http_status) == (code, status)


def test_a_postprocessor_that_ran_out_of_disk_is_disk_full():
    error = PostProcessingError("Conversion failed!")
    assert classify(error, "ERROR: Postprocessing: Conversion failed! No space left on device").code == "diskFull"
    assert classify(error, "ERROR: Postprocessing: Conversion failed!").code == "ytdlpError"


@pytest.fixture
def recorder(monkeypatch) -> FailureRecorder:
    """A recorder installed on yt-dlp in this test process; monkeypatch puts yt-dlp back afterwards."""
    for owner, name in ((YoutubeDL, "trouble"), (HttpFD, "to_screen"), (InfoExtractor, "raise_login_required")):
        monkeypatch.setattr(owner, name, getattr(owner, name))
    monkeypatch.setattr(RetryManager, "report_retry", staticmethod(RetryManager.report_retry))
    installed = FailureRecorder()
    installed.install()
    return installed


def test_the_recorder_keeps_the_last_error_yt_dlp_reports_while_handling_it(recorder):
    with YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        try:
            raise webpage_error(http_error(410))
        except ExtractorError as error:
            with pytest.raises(DownloadError):
                ydl.report_error(str(error))
    verdict = recorder.verdict([])
    assert (verdict["code"], verdict["httpStatus"]) == ("videoNotFound", 410)
    assert verdict["detail"].startswith("Unable to download webpage: HTTP Error 410")


def test_a_retry_loop_that_gives_up_is_classified_by_its_last_error(recorder):
    """yt-dlp reports a retry loop's last error after the exception was handled: no sys.exception()."""
    with YoutubeDL({"quiet": True, "no_warnings": True}) as ydl:
        assert sys.exception() is None
        with pytest.raises(DownloadError):
            RetryManager.report_retry(TransportError("Read timed out."), 11, 10, info=ydl.to_screen,
                                      warn=ydl.report_warning, error=lambda message: ydl.report_error(message),
                                      sleep_func=None)
    assert recorder.code == "networkError"
    assert recorder.detail == "Read timed out.. Giving up after 10 retries"


def test_an_extractors_login_wall_is_login_required_whatever_its_words(recorder):
    """raise_login_required is yt-dlp's own way to say "sign in": the recorder tags what it raises."""
    extractor = InfoExtractor()
    with pytest.raises(ExtractorError) as raised:
        extractor.raise_login_required("Dieses Video ist nur für Mitglieder", method=None)
    assert classify(as_download_error(raised.value)).code == "loginRequired"


def test_a_file_above_max_filesize_is_too_large(recorder):
    with YoutubeDL({"quiet": True}) as ydl:
        HttpFD(ydl, ydl.params).to_screen("\r[download] File is larger than max-filesize (45677 bytes > 1024 bytes). "
                                          "Aborting.")
    assert recorder.verdict([]) == {"code": "fileTooLarge", "httpStatus": None,
                                    "detail": "File is larger than max-filesize (45677 bytes > 1024 bytes). Aborting."}


def test_the_address_guards_refusal_wins_over_what_yt_dlp_made_of_it():
    recorder = FailureRecorder()
    recorder.set("networkError", None, "Failed to resolve 'x' (blocked address: ...)")
    verdict = recorder.verdict(["blocked address: 127.0.0.2 is in 127.0.0.2/32"])
    assert verdict["code"] == "blockedAddress" and verdict["detail"].startswith("blocked address:")


REPR = re.compile(r"<\w+[ >]|\w+Error\(|Errno|\\x")


@pytest.mark.parametrize("code", sorted(failures.FAILURE_CLASSES))
def test_every_message_is_one_plain_sentence(code):
    for message in (failures.person_message(code), failures.person_message(code, 503, 300, 3)):
        assert message[0].isupper() or message.startswith("yt-dlp"), message
        assert message.endswith(".") and message.count(". ") == 0, message
        assert "/" not in message.replace("HTTP ", "") and not REPR.search(message), message


def test_retryable_follows_the_code_and_the_http_status():
    assert failures.is_retryable("httpError", 503) and failures.is_retryable("httpError", 429)
    assert not failures.is_retryable("httpError", 403) and not failures.is_retryable("videoNotFound", 404)
    assert failures.is_retryable("networkError") and failures.is_retryable("runnerLost")
    assert not failures.is_retryable("no such code")


def test_details_lose_every_path_of_the_server_but_keep_urls():
    detail = failures.scrub_detail(
        "unable to write data: [Errno 28] No space left on device: '/srv/prt/data/.partial/abc.mp4.part' "
        "(ffmpeg at /usr/bin/ffmpeg) from https://cdn.example.com/v/1/seg.ts?x=/etc/passwd",
        ["/srv/prt/data/.partial", "/srv/prt/data"])
    assert "/srv" not in detail and "/usr/bin" not in detail
    assert "'abc.mp4.part'" in detail and "(ffmpeg at ffmpeg)" in detail
    assert "https://cdn.example.com/v/1/seg.ts?x=/etc/passwd" in detail
    assert failures.scrub_detail("a\nb\tc") == "a b c" and failures.scrub_detail(None) is None
    assert len(failures.scrub_detail("x" * 5000)) <= failures.DETAIL_MAX_CHARS + 1


def test_the_readme_lists_every_error_code():
    from tests.stack import APP_DIR

    readme = (APP_DIR / "README.md").read_text()
    assert failures.table() in readme


# --- the DB writer keeps the four fields together ------------------------------------------------------------

@pytest.fixture
def database(tmp_path):
    from common.db import upgrade_schema, writer_engine

    path = tmp_path / "failures.sqlite"
    engine = writer_engine(path)
    upgrade_schema(engine)
    engine.dispose()
    return path


def run(database, command):
    """Applies a command as the DB writer does, then reads the row back with the SQLAlchemy models."""
    from sqlalchemy.orm import Session

    from common.db import writer_connection, writer_engine
    from common.models import Download
    from services.dbwriter import handlers
    from services.dbwriter.rows import transaction

    connection = writer_connection(database)
    with transaction(connection) as batch:
        reply = handlers.apply(batch, command)
    connection.close()
    assert reply["ok"], reply
    engine = writer_engine(database)
    with Session(engine) as session:
        row = session.query(Download).filter_by(uuid=command.uuid).one()
    engine.dispose()
    return row


def test_the_db_writer_stores_a_failure_and_a_retry_clears_it(database):
    from common import bus

    uuid = "0b6e1c53-4f1c-4a55-9a77-6d2b1f0b9c11"
    run(database, bus.CreateDownload(uuid=uuid, videoURL="http://example.com/v", ytdlpParameters=[],
                                     deadline=9e9))
    run(database, bus.StartAttempt(uuid=uuid, attemptToken="t1"))
    row = run(database, bus.FinishDownload(
        uuid=uuid, attempt=1, attemptToken="t1", status="FAILED", errorCode="httpError",
        errorMessage=failures.person_message("httpError", 503), errorDetail="HTTP Error 503", retryable=True,
        videoTitle="a title"))
    assert (row.errorCode, row.errorMessage, row.errorDetail, row.retryable, row.videoTitle) == (
        "httpError", "The site refused the download with an HTTP error (HTTP 503).", "HTTP Error 503", True, "a title")
    row = run(database, bus.RetryDownload(uuid=uuid))
    assert (row.errorCode, row.errorMessage, row.errorDetail, row.retryable) == (None, None, None, None)
    run(database, bus.StartAttempt(uuid=uuid, attemptToken="t2"))
    row = run(database, bus.RequeueDownload(uuid=uuid, reason="the runner lost the download",
                                            reasonCode="runnerLostDownload", maxAttempts=2))
    assert (row.errorCode, row.retryable, row.errorDetail) == (
        "runnerLost", True, "gave up after 2 attempts: the runner lost the download")
    assert row.errorMessage == "The download was given up after 2 attempts cut short by a failure of the service."


def test_an_old_failure_without_a_class_is_classified_by_the_migration(tmp_path):
    """Rows FAILED before migration 0005 had only their text: it becomes errorDetail, under a code."""
    import sqlalchemy as sa

    from common.db import upgrade_schema, writer_engine

    engine = writer_engine(tmp_path / "old.sqlite")
    upgrade_schema(engine)
    migrate(engine, "0004")
    with engine.begin() as connection:
        for uuid, message in (("u1", "gave up after 3 attempts: the runner lost the download"),
                              ("u2", "ERROR: [generic] x: HTTP Error 404"), ("u3", None)):
            connection.execute(sa.text(
                "INSERT INTO downloads (uuid, videoURL, ytdlpParameters, status, attempts, createdAt, updatedAt, "
                "s3UploadAttempts, errorMessage) VALUES (:u, 'x', '[]', 'FAILED', 1, '2026-01-01', '2026-01-01', 0, "
                ":m)"), {"u": uuid, "m": message})
    migrate(engine, "head")
    with engine.connect() as connection:
        rows = {r.uuid: r for r in connection.execute(sa.text("SELECT * FROM downloads"))}
    assert (rows["u1"].errorCode, rows["u1"].retryable) == ("runnerLost", 1)
    assert rows["u1"].errorDetail == "gave up after 3 attempts: the runner lost the download"
    assert (rows["u2"].errorCode, rows["u2"].errorMessage) == ("ytdlpError", "yt-dlp could not download this video.")
    assert rows["u2"].errorDetail == "ERROR: [generic] x: HTTP Error 404"
    assert rows["u3"].errorCode == "ytdlpError" and rows["u3"].errorDetail is None


def migrate(engine, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from common.db import MIGRATIONS_PATH

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.upgrade if revision == "head" else command.downgrade)(config, revision)
