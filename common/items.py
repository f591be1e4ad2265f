"""The one definition of a download as clients see it (listDownloads items, waitForDownload, /api/events,
webhook bodies): built by the API from its reads and by the DB writer from its rows, so it lives here rather
than in either service (the DB writer need not load the API's web framework)."""
from __future__ import annotations

from common import bus, failures
from common.statuses import DownloadStatusEnum

# The columns download_item reads (the API selects these; the DB writer passes whole rows)
LIST_COLUMNS = ("uuid", "status", "videoURL", "ytdlpParameters", "sizeInBytes", "progress", "speedBytesPerSecond",
                "etaSeconds", "errorMessage", "fileName", "attempts", "s3UploadedAt", "s3UploadError", "createdAt",
                "updatedAt", "errorCode", "errorDetail", "retryable", "videoTitle", "videoDurationSeconds",
                "videoUploader", "extractor", "webpageURL", "thumbnailFileName", "cookieProfile", "ytdlpVersion",
                "callbackState", "callbackAttempts", "callbackError", "downloadKind", "parentDownloadUUID",
                "playlistMaxItems", "childrenTotal", "childrenCompleted", "childrenFailed", "subscriptionUUID")

# Every field of a DownloadItem (services/api/schemas.py, which the DB writer does not load; a test keeps
# the two equal)
ITEM_FIELDS = frozenset((
    "downloadUUID", "downloadStatus", "videoURL", "ytdlpCLIParameters", "downloadSizeInBytes", "progress",
    "speedBytesPerSecond", "etaSeconds", "errorMessage", "errorCode", "errorDetail", "retryable", "videoTitle",
    "videoDurationSeconds", "videoUploader", "extractor", "webpageURL", "thumbnailURL", "downloadKind",
    "parentDownloadUUID", "playlistMaxItems", "childrenTotal", "childrenCompleted", "childrenFailed",
    "subscriptionUUID", "fileName", "attempts", "s3Available", "s3UploadError", "createdAt", "updatedAt",
    "cookieProfile", "ytdlpVersion", "callbackStatus"))


def failure_fields(row) -> dict:
    """errorCode, errorMessage, errorDetail and retryable of a FAILED row (a row without a code: ytdlpError)."""
    code = row.errorCode or failures.DEFAULT_CODE
    return {"errorCode": code, "errorMessage": row.errorMessage or failures.person_message(code),
            "errorDetail": row.errorDetail,
            "retryable": row.retryable if row.retryable is not None else failures.is_retryable(code)}


def download_item(row, https_base_url: str) -> dict:
    """One listDownloads item (the DownloadItem schema), built from plain columns: at 1000 rows per answer,
    ORM objects and a pydantic model per row cost more than the query."""
    item = {
        "downloadUUID": row.uuid, "downloadStatus": row.status.value, "videoURL": row.videoURL,
        "ytdlpCLIParameters": row.ytdlpParameters or [], "downloadSizeInBytes": row.sizeInBytes,
        "progress": row.progress, "speedBytesPerSecond": row.speedBytesPerSecond, "etaSeconds": row.etaSeconds,
        "errorMessage": row.errorMessage, "fileName": row.fileName, "attempts": row.attempts,
        "s3Available": row.s3UploadedAt is not None,
        "s3UploadError": row.s3UploadError if row.s3UploadedAt is None else None,
        "createdAt": bus.iso(row.createdAt), "updatedAt": bus.iso(row.updatedAt),
        "videoTitle": row.videoTitle, "videoDurationSeconds": row.videoDurationSeconds,
        "videoUploader": row.videoUploader, "extractor": row.extractor, "webpageURL": row.webpageURL,
        "thumbnailURL": f"{https_base_url}/{row.thumbnailFileName}" if row.thumbnailFileName else None,
        "cookieProfile": row.cookieProfile, "ytdlpVersion": row.ytdlpVersion,
        "callbackStatus": {"state": row.callbackState, "attempts": row.callbackAttempts or 0,
                           **({"lastError": row.callbackError} if row.callbackError else {})}
        if row.callbackState else None,
        "downloadKind": row.downloadKind, "parentDownloadUUID": row.parentDownloadUUID,
        "playlistMaxItems": row.playlistMaxItems, "childrenTotal": row.childrenTotal,
        "childrenCompleted": row.childrenCompleted, "childrenFailed": row.childrenFailed,
        "subscriptionUUID": row.subscriptionUUID,
    }
    if row.status == DownloadStatusEnum.FAILED:
        item.update(failure_fields(row))
    return {key: value for key, value in item.items() if value is not None}
