"""Playlists (issue 19): the kind of a download (VIDEO or PLAYLIST), the parent of a playlist's entries, the
entry limit asked for, and the parent's counts of its children.

Revision ID: 0009
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
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
        batch.create_index("ix_downloads_parentDownloadUUID", ["parentDownloadUUID"])


def downgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.drop_index("ix_downloads_parentDownloadUUID")
        for column in ("childrenFailed", "childrenCompleted", "childrenTotal", "playlistMaxItems",
                       "parentDownloadUUID", "downloadKind"):
            batch.drop_column(column)
