"""Text search of listDownloads: an FTS5 trigram index over the searchable columns, kept current by triggers.

It indexes `videoURL` and, when the column exists at upgrade time (issue 15's metadata), `videoTitle`; a later
migration that adds another searchable column drops and recreates the index with SEARCHABLE_COLUMNS extended.
Keyset paging on (createdAt, id) needs no new index: SQLite's indexes on createdAt and (status, createdAt)
already end with the rowid (`id`).

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SEARCHABLE_COLUMNS = ("videoURL", "videoTitle")
TABLE = "downloads_search"


def searchable_columns() -> list[str]:
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("downloads")}
    return [name for name in SEARCHABLE_COLUMNS if name in present]


def upgrade() -> None:
    columns = searchable_columns()
    quoted = ", ".join(f'"{name}"' for name in columns)
    new_values = ", ".join(f'new."{name}"' for name in columns)
    old_values = ", ".join(f'old."{name}"' for name in columns)
    op.execute(f"CREATE VIRTUAL TABLE {TABLE} USING fts5({quoted}, content='downloads', content_rowid='id', "
               "tokenize='trigram')")
    op.execute(f"INSERT INTO {TABLE}(rowid, {quoted}) SELECT id, {quoted} FROM downloads")
    op.execute(f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON downloads BEGIN "
               f"INSERT INTO {TABLE}(rowid, {quoted}) VALUES (new.id, {new_values}); END")
    op.execute(f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON downloads BEGIN "
               f"INSERT INTO {TABLE}({TABLE}, rowid, {quoted}) VALUES ('delete', old.id, {old_values}); END")
    op.execute(f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF {quoted} ON downloads BEGIN "
               f"INSERT INTO {TABLE}({TABLE}, rowid, {quoted}) VALUES ('delete', old.id, {old_values}); "
               f"INSERT INTO {TABLE}(rowid, {quoted}) VALUES (new.id, {new_values}); END")


def downgrade() -> None:
    for trigger in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
