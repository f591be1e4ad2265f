"""The cookie profile a download uses, and the yt-dlp version that ran it.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("cookieProfile", sa.String(64), nullable=True))
        batch.add_column(sa.Column("ytdlpVersion", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.drop_column("ytdlpVersion")
        batch.drop_column("cookieProfile")
