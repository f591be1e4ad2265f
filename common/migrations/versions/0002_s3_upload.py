"""Where each download's S3 copy stands.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("s3Key", sa.String(128)))
        batch.add_column(sa.Column("s3UploadedAt", sa.DateTime()))
        batch.add_column(sa.Column("s3UploadAttempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("s3UploadError", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        for column in ("s3UploadError", "s3UploadAttempts", "s3UploadedAt", "s3Key"):
            batch.drop_column(column)
