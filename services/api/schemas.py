"""Request and response models of the REST API (they are also its OpenAPI document)."""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from common.models import DownloadStatusEnum


class ErrorResponse(BaseModel):
    """Every error, whatever its cause, is HTTP 418 with this body."""
    errorCode: str = Field(..., description="Stable camelCase code, e.g. invalidVideoURL, downloadNotFound")
    errorMessage: str = Field(..., description="What went wrong, for a human")
    downloadErrorCode: str | None = Field(
        None, description="Only with downloadFailed: the download's errorCode (see the README's table of error codes)")
    retryable: bool | None = Field(None, description="Only with downloadFailed: retryDownload may succeed as it is")
    errorDetail: str | None = Field(None, description="Only with downloadFailed: yt-dlp's own last error line, "
                                                      "no paths")


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
    playlistMaxItems: int | None = Field(
        None, ge=1, le=10000,
        description="Download a playlist or channel URL as one PLAYLIST download with at most this many child "
                    "downloads (its first entries). Absent: only the one video of the URL. A URL that is not a "
                    "playlist is downloaded as one video all the same.")


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


class DownloadItem(BaseModel):
    downloadUUID: str
    downloadStatus: DownloadStatusEnum
    videoURL: str
    ytdlpCLIParameters: list[str]
    downloadSizeInBytes: int | None = Field(None, description="Final size once COMPLETED; expected size before")
    progress: float | None = Field(None, ge=0, le=100)
    speedBytesPerSecond: float | None = None
    etaSeconds: int | None = None
    errorMessage: str | None = Field(None, description="FAILED: why, in one sentence for a person")
    errorCode: str | None = Field(None, description="FAILED: the error class (see the README's table of error codes)")
    errorDetail: str | None = Field(None, description="FAILED: yt-dlp's own last error line (or the service's), "
                                                      "paths removed")
    retryable: bool | None = Field(None, description="FAILED: whether retryDownload may succeed without changes")
    videoTitle: str | None = Field(None, description="The title yt-dlp found (a bare file: its name without "
                                                     "extension)")
    videoDurationSeconds: float | None = Field(None, ge=0, description="yt-dlp's duration, else the file's")
    videoUploader: str | None = Field(None, description="The uploader yt-dlp found, when the site names one")
    extractor: str | None = Field(None, description="yt-dlp's extractor that handled the URL (generic, youtube...)")
    webpageURL: str | None = Field(None, description="The page of the video, as yt-dlp names it")
    thumbnailURL: str | None = Field(None, description="HTTPS link to the thumbnail (<uuid>.jpg), when the site has "
                                                       "one")
    downloadKind: str = Field("VIDEO", description="VIDEO, or PLAYLIST: the parent of its entries' downloads "
                                                   "(its status follows them)")
    parentDownloadUUID: str | None = Field(None, description="A playlist's entry: the PLAYLIST download it belongs to")
    playlistMaxItems: int | None = Field(None, description="As given to initiateDownload")
    childrenTotal: int | None = Field(None, description="PLAYLIST: how many entry downloads it has")
    childrenCompleted: int | None = Field(None, description="PLAYLIST: how many of them are COMPLETED")
    childrenFailed: int | None = Field(None, description="PLAYLIST: how many of them FAILED")
    subscriptionUUID: str | None = Field(None, description="Made by this subscription (a check or an entry)")
    fileName: str | None = None
    attempts: int
    s3Available: bool = Field(False, description="True once the file is in the S3 bucket (S3 link available)")
    s3UploadError: str | None = Field(None, description="Why the last S3 upload attempt failed, while it is retried")
    createdAt: str
    updatedAt: str


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


class CreateSubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., min_length=1, max_length=4096, description="http(s) URL of a playlist, channel or feed")
    checkEveryMinutes: int = Field(..., ge=1, le=366 * 24 * 60, description="Minutes between two checks")
    maxItemsPerCheck: int = Field(..., ge=1, le=10000,
                                  description="A check lists at most this many first entries of the playlist")
    ytdlpCLIParameters: str | list[str] | None = Field(
        None, max_length=4096, description="yt-dlp options for the entries' downloads (as in initiateDownload)")


class SubscriptionResponse(BaseModel):
    subscriptionUUID: str


class SubscriptionRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subscriptionUUID: str = Field(..., min_length=1, max_length=64)


class SubscriptionItem(BaseModel):
    subscriptionUUID: str
    url: str
    checkEveryMinutes: int
    maxItemsPerCheck: int
    ytdlpCLIParameters: list[str]
    createdAt: str
    lastCheckAt: str | None = Field(None, description="When the last check was queued")
    lastCheckDownloadUUID: str | None = Field(None, description="That check's PLAYLIST download")
    nextCheckAt: str = Field(..., description="When the scheduler queues the next check")
    entriesSeen: int = Field(..., description="Entries in the archive: each was queued once")


class ListSubscriptionsResponse(BaseModel):
    subscriptions: list[SubscriptionItem]


class DeleteSubscriptionResponse(BaseModel):
    subscriptionUUID: str
    deleted: bool


class CheckSubscriptionResponse(BaseModel):
    subscriptionUUID: str
    downloadUUID: str = Field(..., description="The check: a PLAYLIST download whose children are the new entries")
