"""Request and response models of the REST API (they are also its OpenAPI document)."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.statuses import DownloadStatusEnum


class RequestParameters(BaseModel):
    """A query or header model. flask-openapi3 asks for its JSON schema on every request (only to find its
    list fields): pydantic builds it anew each time, half the API's CPU for a listDownloads of 30 downloads.
    A class's schema never changes, so that request-time call gets it built once (read only by the caller);
    the OpenAPI document's calls, with arguments, are pydantic's own."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        if "_request_schema" not in cls.__dict__:
            cls._request_schema = super().model_json_schema()
        return cls._request_schema


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
    preset: str | None = Field(
        None, max_length=64,
        description="A format preset from listPresets (e.g. 720p, audio-m4a); its options come first, so options "
                    "in ytdlpCLIParameters add to them and, for the same option, override them. Unknown: "
                    "presetNotFound")
    cookieProfile: str | None = Field(
        None, max_length=200, description="Name of a cookie profile (putCookieProfile): yt-dlp gets a private "
                                          "copy of its cookies for this download")
    callbackURL: str | None = Field(
        None, min_length=1, max_length=4096,
        description="Optional webhook: an http(s) URL that receives a POST with the download's item (plus "
                    "publicURL when COMPLETED) at each final state, signed in X-PRT-Signature; checked like "
                    "videoURL (invalidCallbackURL)")
    playlistMaxItems: int | None = Field(
        None, ge=1, le=10000,
        description="Download a playlist or channel URL as one PLAYLIST download with at most this many child "
                    "downloads (its first entries). Absent: only the one video of the URL. A URL that is not a "
                    "playlist is downloaded as one video all the same.")


class InitiateDownloadHeaders(RequestParameters):
    idempotency_key: str | None = Field(
        None, alias="Idempotency-Key", min_length=1, max_length=255,
        description="Optional key chosen by the client (e.g. a random UUID) for this one download: a call "
                    "repeated with the same key (after a timeout or serviceUnavailable) answers the same "
                    "downloadUUID instead of queuing a second download. Reusing a key with another videoURL or "
                    "other parameters is refused (idempotencyKeyConflict).")


class InitiateDownloadResponse(BaseModel):
    downloadUUID: str


class ListDownloadsQuery(RequestParameters):
    overLastPeriodDurationInMinutes: int = Field(60, gt=0, le=10 * 365 * 24 * 60,
                                                 description="Only downloads created in this many last minutes")
    onlyShowOngoingDownloads: bool = Field(False, description="Only PENDING and DOWNLOADING downloads")
    maxResults: int = Field(1000, ge=1, le=10000, description="At most this many downloads, newest first")
    downloadStatus: DownloadStatusEnum | None = Field(None, description="Only downloads in this status")
    search: str | None = Field(None, min_length=1, max_length=200,
                               description="Only downloads whose URL (or title, when known) contains this text, "
                                           "case-insensitive")
    parentDownloadUUID: str | None = Field(None, min_length=1, max_length=64,
                                           description="Only the entries of this PLAYLIST download")
    topLevelOnly: bool = Field(False, description="Only downloads without a parent (videos and playlists, not "
                                                  "playlist entries)")
    pageToken: str | None = Field(None, max_length=200,
                                  description="nextPageToken of the previous answer: the page after it, with the same "
                                              "filters (stable while downloads are added). Invalid: invalidPageToken")


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
    cookieProfile: str | None = Field(None, description="The cookie profile it uses (its name; never a cookie)")
    ytdlpVersion: str | None = Field(None, description="The yt-dlp version its last attempt ran with")
    callbackStatus: CallbackStatus | None = Field(None, description="Delivery of the webhook of the last final "
                                                                   "state, when the download has a callbackURL")


class ListDownloadsResponse(BaseModel):
    downloads: list[DownloadItem]
    nextPageToken: str | None = Field(None, description="Present when more downloads match: pass it as pageToken")


class PresetItem(BaseModel):
    id: str = Field(..., description="Pass as initiateDownload's preset")
    label: str
    description: str
    ytdlpCLIParameters: list[str] = Field(..., description="The yt-dlp options the preset stands for")


class ListPresetsResponse(BaseModel):
    presets: list[PresetItem]


class ServerInfoResponse(BaseModel):
    s3Configured: bool = Field(..., description="Whether finished downloads are also published to S3 (S3 links)")
    httpsBaseURL: str = Field(..., description="Where finished files are served over HTTPS")


class BulkActionEnum(str, Enum):
    retry = "retry"
    cancel = "cancel"
    delete = "delete"


class BulkFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    downloadStatus: DownloadStatusEnum = Field(..., description="Every download in this status (at most 10,000)")


class BulkActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: BulkActionEnum
    videoDownloadUUIDs: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        None, min_length=1, max_length=1000, description="These downloads (give this or filter)")
    filter: BulkFilter | None = Field(None, description="The downloads matching this filter (give this or "
                                                        "videoDownloadUUIDs)")

    @model_validator(mode="after")
    def one_selection(self):
        if (self.videoDownloadUUIDs is None) == (self.filter is None):
            raise ValueError("give exactly one of videoDownloadUUIDs and filter")
        return self


class BulkOutcome(BaseModel):
    downloadUUID: str
    ok: bool
    downloadStatus: DownloadStatusEnum | None = Field(None, description="The status after the action, when ok")
    errorCode: str | None = Field(None, description="Why this one was not changed (same codes as the single call)")
    errorMessage: str | None = None


class BulkActionResponse(BaseModel):
    action: BulkActionEnum
    succeeded: int
    failed: int
    results: list[BulkOutcome] = Field(..., description="One outcome per selected download, in order")


class URLTypeEnum(str, Enum):
    HTTPS = "HTTPS"
    S3 = "S3"


class PublicURLQuery(RequestParameters):
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


class YtdlpHealth(BaseModel):
    version: str = Field(..., description="The yt-dlp version new downloads start with")
    jsRuntimes: list[str] = Field(..., description="JavaScript runtimes the runner's yt-dlp finds, e.g. "
                                                   "['deno 2.9.8']; empty: none (YouTube then works only partly)")
    problem: str | None = Field(None, description="Why the last yt-dlp update was not switched to")


class HealthResponse(BaseModel):
    status: str
    services: dict[str, str] = Field(..., description="Each service and how long ago it was heard on the bus")
    ytdlp: YtdlpHealth | None = Field(None, description="As the runner's warm yt-dlp reported it; absent until "
                                                        "the runner's yt-dlp is warm")


class CookieProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=200, description="1 to 64 letters, digits, '-' or '_'")
    cookiesTxt: str = Field(..., description="A Netscape cookies.txt file (as browser extensions and "
                                             "`yt-dlp --cookies` write it)")


class CookieProfileRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., max_length=200)


class CookieProfileSummary(BaseModel):
    name: str
    domains: list[str] = Field(..., description="Domains the cookies are for")
    cookieCount: int
    earliestExpiry: str | None = Field(None, description="When the first of its cookies expires (UTC); "
                                                         "absent: session cookies only")


class CookieProfileList(BaseModel):
    cookieProfiles: list[CookieProfileSummary]


class DeleteCookieProfileResponse(BaseModel):
    name: str
    deleted: bool


class WaitForDownloadQuery(RequestParameters):
    videoDownloadUUID: str = Field(..., min_length=1, max_length=64)
    timeoutSeconds: float = Field(60, ge=0, le=300, description="Answer with the current state after this long")


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
