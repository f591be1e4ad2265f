"""Request and response models of the REST API (they are also its OpenAPI document)."""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from common.models import DownloadStatusEnum


class ErrorResponse(BaseModel):
    """Every error, whatever its cause, is HTTP 418 with this body."""
    errorCode: str = Field(..., description="Stable camelCase code, e.g. invalidVideoURL, downloadNotFound")
    errorMessage: str = Field(..., description="What went wrong, for a human")


class HelloResponse(BaseModel):
    message: str
    service: str


class InitiateDownloadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    videoURL: str = Field(..., min_length=1, max_length=4096, description="http(s) URL of the video page or file")
    ytdlpCLIParameters: str | list[str] | None = Field(
        None, max_length=4096,
        description="yt-dlp options as typed on a command line (or a JSON array of strings); only the "
                    "reviewed options listed in the README are accepted")
    callbackURL: str | None = Field(
        None, min_length=1, max_length=4096,
        description="Optional webhook: an http(s) URL that receives a POST with the download's item (plus "
                    "publicURL when COMPLETED) at each final state, signed in X-PRT-Signature; checked like "
                    "videoURL (invalidCallbackURL)")


class InitiateDownloadHeaders(BaseModel):
    idempotency_key: str | None = Field(
        None, alias="Idempotency-Key", min_length=1, max_length=255,
        description="Optional key chosen by the client (e.g. a random UUID) for this one download: a call "
                    "repeated with the same key (after a timeout or serviceUnavailable) answers the same "
                    "downloadUUID instead of queuing a second download. Reusing a key with another videoURL or "
                    "other parameters is refused (idempotencyKeyConflict).")


class InitiateDownloadResponse(BaseModel):
    downloadUUID: str


class ListDownloadsQuery(BaseModel):
    overLastPeriodDurationInMinutes: int = Field(60, gt=0, le=10 * 365 * 24 * 60,
                                                 description="Only downloads created in this many last minutes")
    onlyShowOngoingDownloads: bool = Field(False, description="Only PENDING and DOWNLOADING downloads")
    maxResults: int = Field(1000, ge=1, le=10000, description="At most this many downloads, newest first")


class CallbackState(str, Enum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class CallbackStatus(BaseModel):
    state: CallbackState = Field(..., description="pending (being sent or retried), delivered (a 2xx came back: "
                                                  "never sent again) or failed (WEBHOOKMAXATTEMPTS reached)")
    attempts: int = Field(..., ge=0, description="POSTs made so far")
    lastError: str | None = Field(None, description="Why the last attempt did not deliver it")


class DownloadItem(BaseModel):
    downloadUUID: str
    downloadStatus: DownloadStatusEnum
    videoURL: str
    ytdlpCLIParameters: list[str]
    downloadSizeInBytes: int | None = Field(None, description="Final size once COMPLETED; expected size before")
    progress: float | None = Field(None, ge=0, le=100)
    speedBytesPerSecond: float | None = None
    etaSeconds: int | None = None
    errorMessage: str | None = Field(None, description="Why a FAILED download failed")
    fileName: str | None = None
    attempts: int
    s3Available: bool = Field(False, description="True once the file is in the S3 bucket (S3 link available)")
    s3UploadError: str | None = Field(None, description="Why the last S3 upload attempt failed, while it is retried")
    createdAt: str
    updatedAt: str
    callbackStatus: CallbackStatus | None = Field(None, description="Delivery of the webhook of the last final "
                                                                   "state, when the download has a callbackURL")


class ListDownloadsResponse(BaseModel):
    downloads: list[DownloadItem]


class URLTypeEnum(str, Enum):
    HTTPS = "HTTPS"
    S3 = "S3"


class PublicURLQuery(BaseModel):
    videoDownloadUUID: str = Field(..., max_length=64)
    URLType: URLTypeEnum = URLTypeEnum.HTTPS


class PublicURLResponse(BaseModel):
    publicURL: str
    s3URI: str | None = None
    expiresAt: str | None = None


class DownloadRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    videoDownloadUUID: str = Field(..., min_length=1, max_length=64)


class DownloadStatusResponse(BaseModel):
    downloadUUID: str
    downloadStatus: DownloadStatusEnum


class DeleteDownloadResponse(BaseModel):
    downloadUUID: str
    deleted: bool


class HealthResponse(BaseModel):
    status: str
    services: dict[str, str] = Field(..., description="Each service and how long ago it was heard on the bus")


class WaitForDownloadQuery(BaseModel):
    videoDownloadUUID: str = Field(..., min_length=1, max_length=64)
    timeoutSeconds: float = Field(60, ge=0, le=300, description="Answer with the current state after this long")
