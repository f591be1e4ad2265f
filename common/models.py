"""The schema as SQLAlchemy models: one row per download, written only by the DB writer. The migrations and the
tests use them; the DB writer itself writes with sqlite3 (services/dbwriter/rows.py, held to these tables by
tests/test_rows.py) and the other services read with it (common/sqlite_reader.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Enum, Float, Index, Integer, String, Text,
                        TypeDecorator)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common.statuses import (FINISHED_STATUSES, ONGOING_STATUSES, RETRYABLE_STATUSES,  # noqa: F401 (re-exported)
                             DownloadKindEnum, DownloadStatusEnum, utcnow)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC (SQLite has no time zones) and always hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    pass


class Download(Base):
    __tablename__ = "downloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    videoURL: Mapped[str] = mapped_column(Text, nullable=False)
    ytdlpParameters: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[DownloadStatusEnum] = mapped_column(
        Enum(DownloadStatusEnum, native_enum=False, length=16, validate_strings=True), nullable=False)
    sizeInBytes: Mapped[int | None] = mapped_column(BigInteger)
    progress: Mapped[float | None] = mapped_column(Float)
    speedBytesPerSecond: Mapped[float | None] = mapped_column(Float)
    etaSeconds: Mapped[int | None] = mapped_column(Integer)
    fileName: Mapped[str | None] = mapped_column(String(64))
    errorMessage: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updatedAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    startedAt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finishedAt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    s3Key: Mapped[str | None] = mapped_column(String(128))
    s3UploadedAt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    s3UploadAttempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    s3UploadError: Mapped[str | None] = mapped_column(Text)
    attemptToken: Mapped[str | None] = mapped_column(String(64))
    idempotencyKey: Mapped[str | None] = mapped_column(String(255))
    errorCode: Mapped[str | None] = mapped_column(String(32))
    errorDetail: Mapped[str | None] = mapped_column(Text)
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    videoTitle: Mapped[str | None] = mapped_column(Text)
    videoDurationSeconds: Mapped[float | None] = mapped_column(Float)
    videoUploader: Mapped[str | None] = mapped_column(Text)
    extractor: Mapped[str | None] = mapped_column(String(64))
    webpageURL: Mapped[str | None] = mapped_column(Text)
    thumbnailFileName: Mapped[str | None] = mapped_column(String(64))
    cookieProfile: Mapped[str | None] = mapped_column(String(64))
    ytdlpVersion: Mapped[str | None] = mapped_column(String(64))
    callbackURL: Mapped[str | None] = mapped_column(Text)
    callbackState: Mapped[str | None] = mapped_column(String(16))
    callbackAttempts: Mapped[int | None] = mapped_column(Integer)
    callbackError: Mapped[str | None] = mapped_column(Text)
    # playlists (issue 19): a PLAYLIST row is the parent of one VIDEO row per entry; its status is derived
    downloadKind: Mapped[str] = mapped_column(String(16), nullable=False, default=DownloadKindEnum.VIDEO.value,
                                              server_default=DownloadKindEnum.VIDEO.value)
    parentDownloadUUID: Mapped[str | None] = mapped_column(String(36))
    playlistMaxItems: Mapped[int | None] = mapped_column(Integer)
    childrenTotal: Mapped[int | None] = mapped_column(Integer)
    childrenCompleted: Mapped[int | None] = mapped_column(Integer)
    childrenFailed: Mapped[int | None] = mapped_column(Integer)
    subscriptionUUID: Mapped[str | None] = mapped_column(String(36))  # a subscription's check and its entries

    __table_args__ = (
        Index("ix_downloads_createdAt", "createdAt"),
        Index("ix_downloads_status_createdAt", "status", "createdAt"),
        Index("ux_downloads_idempotencyKey", "idempotencyKey", unique=True),
        Index("ix_downloads_parentDownloadUUID", "parentDownloadUUID"),
    )


class Purge(Base):
    """Clean-up still owed for a download, written by the DB writer in the same transaction as the delete
    (rowDeleted) or as the FAILED/CANCELLED state; the publisher works through it, also after a restart."""
    __tablename__ = "purges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    fileName: Mapped[str | None] = mapped_column(String(64))
    s3Key: Mapped[str | None] = mapped_column(String(128))
    rowDeleted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Event(Base):
    """One committed change of a download as /api/events sends it, written in the transaction of the change.
    AUTOINCREMENT: ids are never reused, also after old events are pruned or the DB writer restarts, so a
    client's Last-Event-ID always means the same point in the stream."""
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = ({"sqlite_autoincrement": True},)


class WebhookDelivery(Base):
    """The webhook outbox: one POST owed to a download's callbackURL for one final state, written in the
    transaction of that state with its body fixed then; the publisher sends it until a 2xx or the limit."""
    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), nullable=False)
    callbackURL: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    nextAttemptAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lastError: Mapped[str | None] = mapped_column(Text)
    deliveredAt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_webhook_deliveries_state_next", "state", "nextAttemptAt"),)
class Subscription(Base):
    """A playlist or channel checked every checkEveryMinutes by the scheduler; each check is a playlist download
    (subscriptionUUID) whose children are the entries not seen before (SubscriptionEntry)."""
    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    checkEveryMinutes: Mapped[int] = mapped_column(Integer, nullable=False)
    maxItemsPerCheck: Mapped[int] = mapped_column(Integer, nullable=False)
    ytdlpParameters: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    lastCheckAt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nextCheckAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lastCheckDownloadUUID: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (Index("ix_subscriptions_nextCheckAt", "nextCheckAt"),)


class SubscriptionEntry(Base):
    """The archive: an entry (yt-dlp's id, else its URL) a subscription has already queued, once."""
    __tablename__ = "subscription_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriptionUUID: Mapped[str] = mapped_column(String(36), nullable=False)
    entryKey: Mapped[str] = mapped_column(Text, nullable=False)
    downloadUUID: Mapped[str] = mapped_column(String(36), nullable=False)
    createdAt: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ux_subscription_entries_key", "subscriptionUUID", "entryKey", unique=True),)
