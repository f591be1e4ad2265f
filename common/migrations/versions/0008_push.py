"""Push: the event log behind /api/events and waitForDownload, the webhook outbox, a download's callback.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("downloads") as batch:
        batch.add_column(sa.Column("callbackURL", sa.Text, nullable=True))
        batch.add_column(sa.Column("callbackState", sa.String(16), nullable=True))
        batch.add_column(sa.Column("callbackAttempts", sa.Integer, nullable=True))
        batch.add_column(sa.Column("callbackError", sa.Text, nullable=True))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("createdAt", sa.DateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("callbackURL", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("nextAttemptAt", sa.DateTime, nullable=False),
        sa.Column("lastError", sa.Text),
        sa.Column("deliveredAt", sa.DateTime),
        sa.Column("createdAt", sa.DateTime, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_state_next", "webhook_deliveries", ["state", "nextAttemptAt"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_state_next", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("events")
    with op.batch_alter_table("downloads") as batch:
        for column in ("callbackError", "callbackAttempts", "callbackState", "callbackURL"):
            batch.drop_column(column)
