"""Attempt tokens (idempotent StartAttempt/FinishDownload), client idempotency keys, and the purge list.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("attemptToken", sa.String(64), nullable=True))
        batch.add_column(sa.Column("idempotencyKey", sa.String(255), nullable=True))
        batch.create_index("ux_downloads_idempotencyKey", ["idempotencyKey"], unique=True)
    op.create_table(
        "purges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("fileName", sa.String(64)),
        sa.Column("s3Key", sa.String(128)),
        sa.Column("rowDeleted", sa.Boolean, nullable=False),
        sa.Column("createdAt", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("purges")
    with op.batch_alter_table("downloads") as batch:
        batch.drop_index("ux_downloads_idempotencyKey")
        batch.drop_column("idempotencyKey")
        batch.drop_column("attemptToken")
