"""Playlists and subscriptions (issue 19): the kind of a download (VIDEO or PLAYLIST), the parent of a
playlist's entries, the entry limit asked for, the parent's counts of its children, the subscription a
download belongs to; the subscriptions and their archive of entries already queued.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("downloadKind", sa.String(16), nullable=False, server_default="VIDEO"))
        batch.add_column(sa.Column("parentDownloadUUID", sa.String(36), nullable=True))
        batch.add_column(sa.Column("playlistMaxItems", sa.Integer, nullable=True))
        batch.add_column(sa.Column("childrenTotal", sa.Integer, nullable=True))
        batch.add_column(sa.Column("childrenCompleted", sa.Integer, nullable=True))
        batch.add_column(sa.Column("childrenFailed", sa.Integer, nullable=True))
        batch.add_column(sa.Column("subscriptionUUID", sa.String(36), nullable=True))
        batch.create_index("ix_downloads_parentDownloadUUID", ["parentDownloadUUID"])
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("checkEveryMinutes", sa.Integer, nullable=False),
        sa.Column("maxItemsPerCheck", sa.Integer, nullable=False),
        sa.Column("ytdlpParameters", sa.JSON, nullable=False),
        sa.Column("createdAt", sa.DateTime, nullable=False),
        sa.Column("lastCheckAt", sa.DateTime, nullable=True),
        sa.Column("nextCheckAt", sa.DateTime, nullable=False),
        sa.Column("lastCheckDownloadUUID", sa.String(36), nullable=True),
    )
    op.create_index("ix_subscriptions_nextCheckAt", "subscriptions", ["nextCheckAt"])
    op.create_table(
        "subscription_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriptionUUID", sa.String(36), nullable=False),
        sa.Column("entryKey", sa.Text, nullable=False),
        sa.Column("downloadUUID", sa.String(36), nullable=False),
        sa.Column("createdAt", sa.DateTime, nullable=False),
    )
    op.create_index("ux_subscription_entries_key", "subscription_entries", ["subscriptionUUID", "entryKey"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("subscription_entries")
    op.drop_table("subscriptions")
    with op.batch_alter_table("downloads") as batch:
        batch.drop_index("ix_downloads_parentDownloadUUID")
        for column in ("subscriptionUUID", "childrenFailed", "childrenCompleted", "childrenTotal", "playlistMaxItems",
                       "parentDownloadUUID", "downloadKind"):
            batch.drop_column(column)
