"""request_logs.created_at as integer microseconds on SQLite

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

On SQLite the request log's time becomes microseconds since the Unix epoch (BIGINT), which the writer inserts as
is: no date formatting per row and a cheaper index (see ``vitrine.models.types.UTCMicros``). Existing rows are
converted in place. PostgreSQL keeps its timestamptz column: nothing changes there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ORM's SQLite text form is 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); characters 21-26 are the microseconds. The
# seconds are read without the fraction: SQLite's date functions keep milliseconds and would round .9995 up.
_TEXT_TO_MICROS = (
    "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) * 1000000 + CAST(substr(created_at, 21, 6) AS INTEGER)"
)
_MICROS_TO_TEXT = (
    "strftime('%Y-%m-%d %H:%M:%S', created_at / 1000000, 'unixepoch') || printf('.%06d', created_at % 1000000)"
)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if not _is_sqlite():
        return
    op.execute(f"UPDATE request_logs SET created_at = {_TEXT_TO_MICROS} WHERE typeof(created_at) = 'text'")
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.alter_column("created_at", existing_type=sa.DateTime(timezone=True), type_=sa.BigInteger())


def downgrade() -> None:
    if not _is_sqlite():
        return
    with op.batch_alter_table("request_logs", schema=None) as batch_op:
        batch_op.alter_column("created_at", existing_type=sa.BigInteger(), type_=sa.DateTime(timezone=True))
    op.execute(f"UPDATE request_logs SET created_at = {_MICROS_TO_TEXT} WHERE typeof(created_at) = 'integer'")
