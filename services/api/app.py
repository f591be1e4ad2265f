"""The REST API: validates requests, reads SQLite read-only, and asks the DB writer for every write."""
from __future__ import annotations

import base64
import binascii
import json
import logging
import sqlite3
from contextlib import contextmanager
import time
import uuid as uuidlib
from datetime import datetime, timedelta, timezone

import msgspec
from flask import jsonify, request, stream_with_context
from flask_openapi3 import Info, OpenAPI, Tag
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from common import bus, cookies
from common.config import Settings
from common.sqlite_reader import SQLiteReader, sql_time
from common.statuses import ONGOING_STATUSES, DownloadKindEnum, DownloadStatusEnum, utcnow
from common.network import check_video_url, in_networks
from common.items import LIST_COLUMNS, download_item, failure_fields
from common.ytdlp import ParameterError, split_parameters
from services.api.parameter_check import ParameterChecker
from services.api.presets import PRESETS, preset_arguments
from services.api.schemas import (
    BulkActionBody, BulkActionResponse, CookieProfileBody, CookieProfileList, CookieProfileRef, CookieProfileSummary,
    DeleteCookieProfileResponse, DeleteDownloadResponse, DownloadItem, DownloadRef, DownloadStatusResponse,
    ErrorResponse, HealthResponse, HelloResponse, InitiateDownloadBody, InitiateDownloadHeaders,
    InitiateDownloadResponse, ListDownloadsQuery, ListDownloadsResponse, ListPresetsResponse, PublicURLQuery,
    PublicURLResponse, ServerInfoResponse, URLTypeEnum, WaitForDownloadQuery)
from services.api.schemas import (
    CheckSubscriptionResponse, CreateSubscriptionBody, DeleteSubscriptionResponse, ListSubscriptionsResponse,
    SubscriptionRef, SubscriptionResponse)

log = logging.getLogger("api")

HEALTH_TIMEOUT_SECONDS = 2.0
METRICS_PING_TIMEOUT_SECONDS = 0.5
HEARTBEAT_MAX_AGE_SECONDS = 5.0
MONITORED_SERVICES = ("scheduler", "runner", "publisher")

ERRORS = {418: ErrorResponse}
MAX_BODY_BYTES = 64 * 1024  # nginx in front allows a little more, so that this limit answers first
HTTP_ERROR_CODES = {400: "invalidRequest", 404: "notFound", 405: "methodNotAllowed", 413: "requestTooLarge",
                    415: "unsupportedMediaType"}


class ApiError(Exception):
    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


def error_response(code: str, message: str, **extra):
    response = jsonify(errorCode=code, errorMessage=message, **extra)
    response.status_code = 418
    return response


def describe_validation_error(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "request"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


class TrustedProxyFix:
    """Believes X-Forwarded-* only from the configured proxies, so the client address cannot be forged."""

    def __init__(self, app, trusted):
        self.app, self.trusted = app, trusted
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)

    def __call__(self, environ, start_response):
        if in_networks(environ.get("REMOTE_ADDR"), self.trusted):
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)


class Backend:
    """The API's connections: read-only SQLite connections and bus sockets, each pooled."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.database = SQLiteReader(settings.SQLITEFILEPATH)
        self._pools: dict[str, list] = {}
        self._hub = None

    def require_database(self) -> None:
        if not self.database.exists():
            raise ApiError("serviceUnavailable", "the database does not exist yet (DB writer not started)")

    def rows(self, sql: str, parameters: tuple | dict = ()) -> list[tuple]:
        """SQLiteReader.rows; a database that is missing or unreadable becomes serviceUnavailable."""
        return self._read(self.database.rows, sql, parameters)

    def records(self, sql: str, parameters: tuple | dict = ()) -> list:
        """SQLiteReader.records; a database that is missing or unreadable becomes serviceUnavailable."""
        return self._read(self.database.records, sql, parameters)

    def _read(self, read, sql: str, parameters: tuple | dict) -> list:
        self.require_database()
        try:
            return read(sql, parameters)
        except sqlite3.DatabaseError as error:
            log.warning("database read failed: %s", error)
            raise ApiError("serviceUnavailable", "the database cannot be read right now") from error

    @contextmanager
    def _pooled(self, name, factory):
        """A bus socket (or client) used by one request at a time and kept for the next: requests are
        greenlets, and a socket per greenlet would be a new connection per request."""
        pool = self._pools.setdefault(name, [])
        value = pool.pop() if pool else factory()
        try:
            yield value
        finally:
            pool.append(value)

    @property
    def hub(self):
        """This worker's ChangeHub (made in the worker, after gevent patched it)."""
        if self._hub is None:
            from services.api.push import ChangeHub
            self._hub = ChangeHub(self.settings, self.database)
        return self._hub

    def request(self, command: bus.Command, timeout: float | None = None) -> bus.Reply:
        """A DB writer command; serviceUnavailable when it does not answer in time."""
        timeout = timeout or self.settings.BUSTIMEOUTSECONDS
        try:
            with self._pooled("requester", lambda: bus.Requester(self.settings)) as requester:
                return requester.request(command, timeout)
        except bus.BusTimeout:
            raise ApiError("serviceUnavailable",
                           f"the database writer did not answer within {timeout:g} s; nothing was changed") from None

    def push(self, endpoint: str, message: bus.Message) -> None:
        with self._pooled("push_" + endpoint, lambda: bus.Pusher(self.settings, endpoint)) as pusher:
            pusher.send(message)

    def presign(self, key: str) -> tuple[str, str]:
        from common import s3

        with self._pooled("signer", lambda: s3.client(self.settings, public=True)) as signer:
            return s3.presigned_get(signer, self.settings.S3BUCKET, key, self.settings.S3URLEXPIRYSECONDS)



def create_app(settings: Settings) -> OpenAPI:
    app = OpenAPI(
        __name__,
        info=Info(title="prt-videodownloader", version="1.0.0",
                  description="Downloads videos with yt-dlp and publishes them over HTTPS and S3. "
                              "Every error is HTTP 418 with {errorCode, errorMessage}."),
        validation_error_status=418,
        validation_error_model=ErrorResponse,
        validation_error_callback=lambda error: error_response("invalidParameters",
                                                               describe_validation_error(error)),
        doc_prefix="/openapi",
        security_schemes={},  # the API has no authentication; None would be published as an invalid null
    )
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    backend = Backend(settings)
    parameter_checker = ParameterChecker(settings, backend.push)
    app.extensions["prt_backend"] = backend
    downloads_tag = Tag(name="downloads")
    subscriptions_tag = Tag(name="subscriptions")

    @app.before_request
    def only_local_clients():
        if not in_networks(request.remote_addr, settings.ALLOWEDCLIENTNETWORKS):
            return error_response("forbiddenClient", f"clients from {request.remote_addr} are not served")
        return None

    @app.errorhandler(ApiError)
    def on_api_error(error: ApiError):
        return error_response(error.code, error.message, **error.extra)

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException):
        if error.response is not None and error.response.status_code == 418:
            return error.response
        if error.code == 413:
            return error_response("requestTooLarge", f"the request body is larger than {MAX_BODY_BYTES} bytes")
        return error_response(HTTP_ERROR_CODES.get(error.code, "invalidRequest"), error.description or error.name)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception):
        if isinstance(error, RecursionError):
            return error_response("invalidRequest", "the request is nested too deeply")
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response("internalError", f"internal error ({type(error).__name__}); see the API log")

    @app.get("/api/hello", operation_id="helloWorld", summary="Hello world: the API is up",
             responses={200: HelloResponse, **ERRORS})
    def hello():
        return {"message": "Hello, world!", "service": "prt-videodownloader"}

    @app.post("/api/initiateDownload", operation_id="initiateDownload", tags=[downloads_tag],
              summary="Queue a download; answers once it is stored as PENDING (serviceUnavailable: nothing "
                      "was stored; send an Idempotency-Key to retry safely)",
              responses={200: InitiateDownloadResponse, **ERRORS})
    def initiate_download(body: InitiateDownloadBody, header: InitiateDownloadHeaders):
        try:
            check_video_url(body.videoURL, settings.BLOCKEDURLNETWORKS)
        except ValueError as error:
            raise ApiError("invalidVideoURL", str(error)) from None
        try:
            preset = preset_arguments(body.preset)
        except KeyError:
            raise ApiError("presetNotFound", f"no preset {body.preset!r}; listPresets lists them") from None
        try:
            arguments = parameter_checker.check(preset + split_parameters(body.ytdlpCLIParameters))
        except ParameterError as error:
            raise ApiError(error.code, str(error)) from None
        if body.cookieProfile is not None:
            with cookie_errors():
                if not cookies.exists(settings.COOKIESPATH, body.cookieProfile):
                    raise ApiError("cookieProfileNotFound", f"no cookie profile named {body.cookieProfile!r}")
        if body.callbackURL is not None:
            try:
                check_video_url(body.callbackURL, settings.BLOCKEDURLNETWORKS)
            except ValueError as error:
                raise ApiError("invalidCallbackURL", str(error)) from None
        reply = backend.request(bus.CreateDownload(
            uuid=str(uuidlib.uuid4()), videoURL=body.videoURL, ytdlpParameters=arguments,
            deadline=time.time() + settings.BUSTIMEOUTSECONDS * bus.DEADLINE_SHARE,
            idempotencyKey=header.idempotency_key, cookieProfile=body.cookieProfile, callbackURL=body.callbackURL,
            playlistMaxItems=body.playlistMaxItems))
        if not reply.ok:
            if reply.errorCode == "idempotencyKeyConflict":
                raise ApiError(reply.errorCode, reply.error)
            raise ApiError("serviceUnavailable", f"the download could not be stored, nothing was changed: {reply.error}")
        download_uuid = reply.uuid
        backend.push("scheduler", bus.DownloadQueued(uuid=download_uuid))
        return {"downloadUUID": download_uuid}

    def checked(reply: bus.Reply) -> bus.Reply:
        if not reply.ok:
            code = reply.errorCode if reply.errorCode not in (None, *bus.RETRYABLE_ERROR_CODES) else "serviceUnavailable"
            raise ApiError(code, reply.error or "the change was refused")
        return reply

    def cancel(uuid: str) -> str:
        """Cancels a download (a playlist: its ongoing children, which it then follows); its status after."""
        reply = checked(backend.request(bus.CancelDownload(uuid=uuid)))
        if reply.uuids is not None:
            for child in reply.uuids:
                backend.push("runner", bus.CancelRequested(uuid=child))
            return reply.status
        if reply.status == DownloadStatusEnum.DOWNLOADING.value:
            backend.push("runner", bus.CancelRequested(uuid=uuid))
        return DownloadStatusEnum.CANCELLED.value

    def delete(uuid: str) -> None:
        reply = checked(backend.request(bus.DeleteDownload(uuid=uuid)))
        if reply.status == DownloadStatusEnum.DOWNLOADING.value:
            backend.push("runner", bus.CancelRequested(uuid=uuid))
        for child in reply.uuids or []:  # a playlist's children, deleted with it
            backend.push("runner", bus.CancelRequested(uuid=child))
        backend.push("publisher", bus.PurgeFiles(uuid=uuid, s3Key=reply.s3Key))  # the purge list is in the database

    def retry(uuid: str) -> str:
        """Queues a download again (a playlist: its failed or cancelled children); its status after."""
        reply = checked(backend.request(bus.RetryDownload(uuid=uuid)))
        backend.push("scheduler", bus.DownloadQueued(uuid=uuid))
        return reply.status or DownloadStatusEnum.PENDING.value  # a playlist: DOWNLOADING

    # Each action returns the status it leaves the download in (None: the download is gone).
    actions = {"cancel": cancel, "delete": delete, "retry": retry}

    @app.post("/api/cancelDownload", operation_id="cancelDownload", tags=[downloads_tag],
              summary="Cancel a PENDING or DOWNLOADING download (its yt-dlp process is stopped)",
              responses={200: DownloadStatusResponse, **ERRORS})
    def cancel_download(body: DownloadRef):
        status = cancel(body.videoDownloadUUID)
        return {"downloadUUID": body.videoDownloadUUID, "downloadStatus": status}

    @app.post("/api/deleteDownload", operation_id="deleteDownload", tags=[downloads_tag],
              summary="Delete a download: its row (no more links), then its S3 object and files",
              responses={200: DeleteDownloadResponse, **ERRORS})
    def delete_download(body: DownloadRef):
        delete(body.videoDownloadUUID)
        return {"downloadUUID": body.videoDownloadUUID, "deleted": True}

    @app.post("/api/retryDownload", operation_id="retryDownload", tags=[downloads_tag],
              summary="Queue a FAILED or CANCELLED download again (a new attempt on the same UUID)",
              responses={200: DownloadStatusResponse, **ERRORS})
    def retry_download(body: DownloadRef):
        status = retry(body.videoDownloadUUID)
        return {"downloadUUID": body.videoDownloadUUID, "downloadStatus": status}

    @app.post("/api/createSubscription", operation_id="createSubscription", tags=[subscriptions_tag],
              summary="Subscribe to a playlist, channel or feed: checked at once, then every checkEveryMinutes; "
                      "each check downloads the entries not seen before",
              responses={200: SubscriptionResponse, **ERRORS})
    def create_subscription(body: CreateSubscriptionBody):
        try:
            check_video_url(body.url, settings.BLOCKEDURLNETWORKS)
        except ValueError as error:
            raise ApiError("invalidVideoURL", str(error)) from None
        try:
            arguments = parameter_checker.check(split_parameters(body.ytdlpCLIParameters))
        except ParameterError as error:
            raise ApiError(error.code, str(error)) from None
        uuid = str(uuidlib.uuid4())
        checked(backend.request(bus.CreateSubscription(
            uuid=uuid, url=body.url, checkEveryMinutes=body.checkEveryMinutes,
            maxItemsPerCheck=body.maxItemsPerCheck, ytdlpParameters=arguments)))
        return {"subscriptionUUID": uuid}

    @app.get("/api/listSubscriptions", operation_id="listSubscriptions", tags=[subscriptions_tag],
             summary="Every subscription with its last and next check", responses={200: ListSubscriptionsResponse,
                                                                             **ERRORS})
    def list_subscriptions():
        rows = backend.records(
            "SELECT s.uuid, s.url, s.checkEveryMinutes, s.maxItemsPerCheck, s.ytdlpParameters, s.createdAt, "
            "s.lastCheckAt, s.lastCheckDownloadUUID, s.nextCheckAt, "
            "(SELECT count(*) FROM subscription_entries e WHERE e.subscriptionUUID = s.uuid) AS entriesSeen "
            "FROM subscriptions s ORDER BY s.id")
        return {"subscriptions": [{
            "subscriptionUUID": s.uuid, "url": s.url, "checkEveryMinutes": s.checkEveryMinutes,
            "maxItemsPerCheck": s.maxItemsPerCheck, "ytdlpCLIParameters": s.ytdlpParameters or [],
            "createdAt": bus.iso(s.createdAt), "lastCheckAt": bus.iso(s.lastCheckAt),
            "lastCheckDownloadUUID": s.lastCheckDownloadUUID, "nextCheckAt": bus.iso(s.nextCheckAt),
            "entriesSeen": s.entriesSeen} for s in rows]}

    @app.post("/api/deleteSubscription", operation_id="deleteSubscription", tags=[subscriptions_tag],
              summary="Stop a subscription and forget its archive (the downloads it made stay)",
              responses={200: DeleteSubscriptionResponse, **ERRORS})
    def delete_subscription(body: SubscriptionRef):
        checked(backend.request(bus.DeleteSubscription(uuid=body.subscriptionUUID)))
        return {"subscriptionUUID": body.subscriptionUUID, "deleted": True}

    @app.post("/api/checkSubscriptionNow", operation_id="checkSubscriptionNow", tags=[subscriptions_tag],
              summary="Queue a check of a subscription now (the next one is then a period later)",
              responses={200: CheckSubscriptionResponse, **ERRORS})
    def check_subscription_now(body: SubscriptionRef):
        reply = checked(backend.request(bus.CheckSubscription(uuid=body.subscriptionUUID)))
        backend.push("scheduler", bus.DownloadQueued(uuid=reply.uuid))
        return {"subscriptionUUID": body.subscriptionUUID, "downloadUUID": reply.uuid}

    @app.post("/api/bulkDownloadAction", operation_id="bulkDownloadAction", tags=[downloads_tag],
              summary="Retry, cancel or delete many downloads in one call (listed by UUID, or every download in a "
                      "status); each download's outcome is reported, one refusal does not stop the others",
              responses={200: BulkActionResponse, **ERRORS})
    def bulk_download_action(body: BulkActionBody):
        run = actions[body.action.value]
        if body.filter is not None:
            uuids = [uuid for uuid, in backend.rows(
                "SELECT uuid FROM downloads WHERE status = ? ORDER BY createdAt DESC, id DESC LIMIT ?",
                (body.filter.downloadStatus.name, BULK_FILTER_LIMIT))]
        else:
            uuids = list(dict.fromkeys(body.videoDownloadUUIDs))
        results = []
        for uuid in uuids:
            try:
                status_after = run(uuid)
            except ApiError as error:
                results.append({"downloadUUID": uuid, "ok": False, "errorCode": error.code,
                                "errorMessage": error.message})
            else:
                outcome = {"downloadUUID": uuid, "ok": True}
                if status_after is not None:
                    outcome["downloadStatus"] = status_after
                results.append(outcome)
        succeeded = sum(1 for result in results if result["ok"])
        return {"action": body.action.value, "succeeded": succeeded, "failed": len(results) - succeeded,
                "results": results}

    @app.get("/api/listPresets", operation_id="listPresets", tags=[downloads_tag],
             summary="Format presets that initiateDownload accepts as preset",
             responses={200: ListPresetsResponse, **ERRORS})
    def list_presets():
        return {"presets": [{"id": preset.id, "label": preset.label, "description": preset.description,
                             "ytdlpCLIParameters": list(preset.ytdlpCLIParameters)} for preset in PRESETS]}

    @app.get("/api/serverInfo", operation_id="getServerInfo",
             summary="What this server offers: whether S3 links exist, where files are served",
             responses={200: ServerInfoResponse, **ERRORS})
    def server_info():
        return {"s3Configured": settings.s3_enabled, "httpsBaseURL": settings.HTTPSBASEURL}

    @app.get("/api/health", operation_id="getHealth", summary="200 when the DB writer, scheduler, runner and "
             "publisher all answer on the bus", responses={200: HealthResponse, **ERRORS})
    def health():
        try:
            reply = backend.request(bus.Ping(), timeout=HEALTH_TIMEOUT_SECONDS)
        except ApiError:
            raise ApiError("unhealthy", "dbwriter does not answer on the bus") from None
        if not reply.ok:
            raise ApiError("unhealthy", f"dbwriter: {reply.error}")
        seen = reply.seen or {}
        missing = [name for name in MONITORED_SERVICES if seen.get(name, float("inf")) > HEARTBEAT_MAX_AGE_SECONDS]
        if missing:
            raise ApiError("unhealthy", f"not answering on the bus: {', '.join(missing)}")
        answer = {"status": "ok", "services": {"dbwriter": "answered now",
                                               **{name: f"{seen[name]:.1f} s ago" for name in MONITORED_SERVICES}}}
        if reply.ytdlp is not None:
            answer["ytdlp"] = {key: value for key, value in msgspec.structs.asdict(reply.ytdlp).items()
                               if value is not None}
        return answer

    cookies_tag = Tag(name="cookie profiles")

    @app.post("/api/putCookieProfile", operation_id="putCookieProfile", tags=[cookies_tag],
              summary="Store a cookie profile (a Netscape cookies.txt), replacing one of the same name",
              responses={200: CookieProfileSummary, **ERRORS})
    def put_cookie_profile(body: CookieProfileBody):
        with cookie_errors():
            summary = cookies.store(settings.COOKIESPATH, body.name, body.cookiesTxt)
        log.info("cookie profile %s stored: %d cookies for %s", summary.name, summary.cookieCount,
                 ", ".join(summary.domains))
        return vars(summary)

    @app.get("/api/listCookieProfiles", operation_id="listCookieProfiles", tags=[cookies_tag],
             summary="The cookie profiles: names, domains, cookie counts, earliest expiry (never a value)",
             responses={200: CookieProfileList, **ERRORS})
    def list_cookie_profiles():
        return {"cookieProfiles": [vars(summary) for summary in cookies.list_profiles(settings.COOKIESPATH)]}

    @app.post("/api/deleteCookieProfile", operation_id="deleteCookieProfile", tags=[cookies_tag],
              summary="Delete a cookie profile (queued downloads that use it then fail)",
              responses={200: DeleteCookieProfileResponse, **ERRORS})
    def delete_cookie_profile(body: CookieProfileRef):
        with cookie_errors():
            cookies.delete(settings.COOKIESPATH, body.name)
        log.info("cookie profile %s deleted", body.name)
        return {"name": body.name, "deleted": True}

    @app.get("/api/metrics", operation_id="getMetrics", summary="Prometheus metrics (text exposition format)",
             responses={200: {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}, **ERRORS})
    def prometheus_metrics():
        from services.api.metrics import metrics_text

        try:  # the DB writer's counts, and the runner's yt-dlp as the DB writer last heard it (prt_ytdlp_info)
            reply = backend.request(bus.Ping(withMetrics=True), timeout=METRICS_PING_TIMEOUT_SECONDS)
            ytdlp, families = reply.ytdlp, reply.metrics
        except ApiError:
            ytdlp, families = None, None
        body, content_type = metrics_text(backend.rows, ytdlp, families)
        return app.response_class(body, mimetype=None, content_type=content_type)

    @app.get("/api/listDownloads", operation_id="listDownloads", tags=[downloads_tag],
             summary="Downloads created in the last N minutes, newest first",
             responses={200: ListDownloadsResponse, **ERRORS})
    def list_downloads(query: ListDownloadsQuery):
        since = utcnow() - timedelta(minutes=query.overLastPeriodDurationInMinutes)
        conditions, parameters = ["createdAt >= ?"], [sql_time(since)]
        if query.onlyShowOngoingDownloads:
            conditions.append(f"status IN ({', '.join(repr(status.name) for status in ONGOING_STATUSES)})")
        if query.downloadStatus is not None:
            conditions.append("status = ?")
            parameters.append(query.downloadStatus.name)
        if query.parentDownloadUUID is not None:
            conditions.append("parentDownloadUUID = ?")
            parameters.append(query.parentDownloadUUID)
        if query.topLevelOnly:
            conditions.append("parentDownloadUUID IS NULL")
        if query.pageToken is not None:
            created, row_id = parse_page_token(query.pageToken)
            # "<=" first, so that SQLite walks the createdAt index from the token on instead of scanning
            conditions.append("createdAt <= ? AND (createdAt < ? OR id < ?)")
            parameters += [sql_time(created), sql_time(created), row_id]
        if query.search is not None:
            condition, values = search_condition(backend, query.search)
            conditions.append(condition)
            parameters += values
        rows = backend.records(f"SELECT {', '.join(LIST_COLUMNS)}, id FROM downloads WHERE {' AND '.join(conditions)} "
                               "ORDER BY createdAt DESC, id DESC LIMIT ?", (*parameters, query.maxResults + 1))
        answer = {"downloads": [download_item(row, settings.HTTPSBASEURL) for row in rows[:query.maxResults]]}
        if len(rows) > query.maxResults:
            answer["nextPageToken"] = page_token(rows[query.maxResults - 1])
        return answer

    @app.get("/api/getVideoDownloadPublicURL", operation_id="getVideoDownloadPublicURL", tags=[downloads_tag],
             summary="A public link to a COMPLETED download, over HTTPS (nginx) or S3",
             responses={200: PublicURLResponse, **ERRORS})
    def get_public_url(query: PublicURLQuery):
        row = next(iter(backend.records("SELECT * FROM downloads WHERE uuid = ?", (query.videoDownloadUUID,))), None)
        if row is None:
            raise ApiError("downloadNotFound", f"no download with UUID {query.videoDownloadUUID!r}")
        if query.URLType == URLTypeEnum.S3 and not settings.s3_enabled:
            raise ApiError("s3NotConfigured", "S3 publishing is not configured on this server")
        if row.downloadKind == DownloadKindEnum.PLAYLIST.value:
            raise ApiError("downloadIsPlaylist", "a playlist has no file of its own: ask for the links of its "
                           "entries (the downloads whose parentDownloadUUID is this one)")
        if row.status == DownloadStatusEnum.FAILED:
            failure = failure_fields(row)
            raise ApiError("downloadFailed", failure["errorMessage"], downloadErrorCode=failure["errorCode"],
                           retryable=failure["retryable"], errorDetail=failure["errorDetail"])
        if row.status != DownloadStatusEnum.COMPLETED:
            raise ApiError("downloadNotReady", f"the download is {row.status.value}; try again when it is COMPLETED")
        if query.URLType == URLTypeEnum.HTTPS:
            return {"publicURL": f"{settings.HTTPSBASEURL}/{row.fileName}"}
        if row.s3UploadedAt is None:
            detail = f" (attempt {row.s3UploadAttempts} failed: {row.s3UploadError})" if row.s3UploadError else ""
            raise ApiError("downloadNotReady", f"the file is not in the S3 bucket yet{detail}; try again shortly")
        url, expires_at = backend.presign(row.s3Key)
        return {"publicURL": url, "s3URI": f"s3://{settings.S3BUCKET}/{row.s3Key}", "expiresAt": expires_at}

    def current_item(uuid: str) -> dict:
        row = next(iter(backend.records(f"SELECT {', '.join(LIST_COLUMNS)} FROM downloads WHERE uuid = ?",
                                        (uuid,))), None)
        if row is None:
            raise ApiError("downloadNotFound", f"no download with UUID {uuid!r}")
        return download_item(row, settings.HTTPSBASEURL)

    @app.get("/api/waitForDownload", operation_id="waitForDownload", tags=[downloads_tag],
             summary="Wait until a download is COMPLETED, FAILED or CANCELLED (or the timeout): answers its item "
                     "then, with its state at that moment",
             responses={200: DownloadItem, **ERRORS})
    def wait_for_download(query: WaitForDownloadQuery):
        from services.api.push import FINAL

        listener = backend.hub.listen(query.videoDownloadUUID)
        try:
            item = current_item(query.videoDownloadUUID)
            deadline = time.monotonic() + query.timeoutSeconds
            while item["downloadStatus"] not in FINAL:
                event = listener.get(deadline - time.monotonic())
                if event is None:
                    break
                change = json.loads(event.data)
                if change.get("deleted") or change.get("downloadStatus") in FINAL:
                    item = current_item(query.videoDownloadUUID)
            return current_item(query.videoDownloadUUID) if item["downloadStatus"] not in FINAL else item
        finally:
            backend.hub.forget(listener)

    @app.get("/api/events", operation_id="events", tags=[downloads_tag],
             summary="Server-sent events (text/event-stream): one per committed status or progress change, `id:` on "
                     "each, Last-Event-ID honoured after a reconnect (else event `reload`), a heartbeat every 15 s",
             responses={200: {"description": "An endless text/event-stream; each `data:` is a JSON object with "
                                             "downloadUUID, downloadStatus and the changed item fields",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}}, **ERRORS})
    def events():
        from services.api.push import event_stream

        backend.require_database()  # serviceUnavailable (418) now, not inside the stream
        listener = backend.hub.listen(None)
        last_event_id = request.headers.get("Last-Event-ID")
        return app.response_class(
            stream_with_context(event_stream(backend.hub, listener, last_event_id)),
            content_type="text/event-stream; charset=utf-8",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return app


@contextmanager
def cookie_errors():
    """Turns a CookieProfileError into the API's 418 with its code."""
    try:
        yield
    except cookies.CookieProfileError as error:
        raise ApiError(error.code, str(error)) from None


BULK_FILTER_LIMIT = 10_000
SEARCH_TABLE = "downloads_search"  # FTS5 trigram index of migration 0006
MIN_INDEXED_SEARCH = 3  # a trigram index answers queries of 3 characters and more
FEW_MATCHES = 2000  # up to this many matches, the index's ids; more: a scan newest first finds a page soon


SEARCHED_COLUMNS = ("videoURL", "videoTitle")


def search_condition(backend: Backend, search: str) -> tuple[str, list]:
    """Case-insensitive substring match (SQL and its parameters). Text found in few downloads: their ids, from
    the trigram index. Text too short for it, or found in many downloads: LIKE, checked while walking the
    createdAt index newest first, which meets a page of matches early (materialising 100k matches from the
    index would cost ~100 ms)."""
    pattern = "%" + search.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    like = " OR ".join(f"{column} LIKE ? ESCAPE '/'" for column in SEARCHED_COLUMNS)
    scan = f"({like})", [pattern] * len(SEARCHED_COLUMNS)
    if len(search) < MIN_INDEXED_SEARCH:
        return scan
    phrase = '"' + search.replace('"', '""') + '"'
    ids = [rowid for rowid, in backend.rows(f"SELECT rowid FROM {SEARCH_TABLE} WHERE {SEARCH_TABLE} MATCH ? LIMIT ?",
                                            (phrase, FEW_MATCHES + 1))]
    return ("id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]) if len(ids) <= FEW_MATCHES else scan


def page_token(row) -> str:
    """Opaque to clients: the (createdAt, id) of the last download shown, so inserts cannot shift the pages."""
    created = row.createdAt.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return base64.urlsafe_b64encode(json.dumps([created, row.id]).encode()).decode().rstrip("=")


def parse_page_token(token: str) -> tuple[datetime, int]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(row_id, int) or not 0 <= row_id < 2 ** 63:
            raise ValueError(row_id)
        return datetime.fromisoformat(created).replace(tzinfo=timezone.utc), row_id
    except (ValueError, TypeError, binascii.Error):
        raise ApiError("invalidPageToken", "pageToken is not a nextPageToken given by listDownloads") from None
