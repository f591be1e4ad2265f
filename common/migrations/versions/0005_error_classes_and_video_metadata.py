"""Error classes of FAILED downloads (errorCode, errorDetail, retryable) and what yt-dlp learnt about the
video (title, duration, uploader, extractor, page URL, thumbnail file).

FAILED rows from before keep their text as errorDetail; errorMessage becomes the person sentence of the
class their text shows (the service's own messages had fixed prefixes), ytdlpError otherwise.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LEGACY_CLASSES = (  # (errorMessage LIKE, errorCode, errorMessage, retryable) of rows FAILED before 0005
    ("gave up after %", "runnerLost",
     "The download was given up after several attempts cut short by a failure of the service.", 1),
    ("stalled:%", "stalled", "The download stalled: nothing happened for the seconds allowed.", 1),
    ("stopped after %", "tooSlow", "The download took longer than the seconds allowed.", 1),
    ("refused:%", "refusedParameters",
     "The service refused this download's yt-dlp parameters, so yt-dlp was not run.", 0),
    ("blocked address%", "blockedAddress",
     "The video URL, or something it leads to, points to an address this service may not connect to.", 0),
    ("%", "ytdlpError", "yt-dlp could not download this video.", 0),
)


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("errorCode", sa.String(32), nullable=True))
        batch.add_column(sa.Column("errorDetail", sa.Text, nullable=True))
        batch.add_column(sa.Column("retryable", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("videoTitle", sa.Text, nullable=True))
        batch.add_column(sa.Column("videoDurationSeconds", sa.Float, nullable=True))
        batch.add_column(sa.Column("videoUploader", sa.Text, nullable=True))
        batch.add_column(sa.Column("extractor", sa.String(64), nullable=True))
        batch.add_column(sa.Column("webpageURL", sa.Text, nullable=True))
        batch.add_column(sa.Column("thumbnailFileName", sa.String(64), nullable=True))
    for pattern, code, message, retryable in LEGACY_CLASSES:
        op.execute(sa.text(
            "UPDATE downloads SET errorCode = :code, errorDetail = errorMessage, errorMessage = :message, "
            "retryable = :retryable WHERE status = 'FAILED' AND errorCode IS NULL AND "
            "coalesce(errorMessage, '') LIKE :pattern").bindparams(
                code=code, message=message, retryable=retryable, pattern=pattern))


def downgrade() -> None:
    op.execute("UPDATE downloads SET errorMessage = errorDetail WHERE status = 'FAILED' AND errorDetail IS NOT NULL")
    with op.batch_alter_table("downloads") as batch:
        for column in ("thumbnailFileName", "webpageURL", "extractor", "videoUploader", "videoDurationSeconds",
                       "videoTitle", "retryable", "errorDetail", "errorCode"):
            batch.drop_column(column)
