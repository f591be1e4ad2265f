"""The values a download's status and kind can take, and UTC time: shared by the SQLAlchemy models
(common/models.py) and the services that use the database without SQLAlchemy (common/sqlite_reader.py, and
the DB writer's services/dbwriter/rows.py)."""
from __future__ import annotations

import enum
from datetime import datetime, timezone


class DownloadStatusEnum(str, enum.Enum):
    PENDING = "PENDING"
    DOWNLOADING = "DOWNLOADING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ONGOING_STATUSES = (DownloadStatusEnum.PENDING, DownloadStatusEnum.DOWNLOADING)
FINISHED_STATUSES = (DownloadStatusEnum.COMPLETED, DownloadStatusEnum.FAILED, DownloadStatusEnum.CANCELLED)
RETRYABLE_STATUSES = (DownloadStatusEnum.FAILED, DownloadStatusEnum.CANCELLED)


class DownloadKindEnum(str, enum.Enum):
    VIDEO = "VIDEO"
    PLAYLIST = "PLAYLIST"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
