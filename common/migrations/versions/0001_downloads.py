"""The downloads table.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "downloads",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("videoURL", sa.Text(), nullable=False),
        sa.Column("ytdlpParameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sizeInBytes", sa.BigInteger()),
        sa.Column("progress", sa.Float()),
        sa.Column("speedBytesPerSecond", sa.Float()),
        sa.Column("etaSeconds", sa.Integer()),
        sa.Column("fileName", sa.String(64)),
        sa.Column("errorMessage", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("createdAt", sa.DateTime(), nullable=False),
        sa.Column("updatedAt", sa.DateTime(), nullable=False),
        sa.Column("startedAt", sa.DateTime()),
        sa.Column("finishedAt", sa.DateTime()),
    )
    op.create_index("ix_downloads_createdAt", "downloads", ["createdAt"])
    op.create_index("ix_downloads_status_createdAt", "downloads", ["status", "createdAt"])


def downgrade() -> None:
    op.drop_table("downloads")
