"""CANCELLED joins the download states; the database now checks the status value itself.

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATUSES = ("PENDING", "DOWNLOADING", "COMPLETED", "FAILED", "CANCELLED")


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.create_check_constraint("ck_downloads_status", "status IN ('" + "', '".join(STATUSES) + "')")


def downgrade() -> None:
    op.execute("UPDATE downloads SET status = 'FAILED' WHERE status = 'CANCELLED'")
    with op.batch_alter_table("downloads") as batch:
        batch.drop_constraint("ck_downloads_status", type_="check")
