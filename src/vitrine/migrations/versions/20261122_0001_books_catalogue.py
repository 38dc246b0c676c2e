"""books catalogue

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_SQLITE_FTS = [
    "CREATE VIRTUAL TABLE books_fts USING fts5("
    "title, description, content='books', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER books_fts_ai AFTER INSERT ON books BEGIN "
    "INSERT INTO books_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END",
    "CREATE TRIGGER books_fts_ad AFTER DELETE ON books BEGIN "
    "INSERT INTO books_fts(books_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); END",
    "CREATE TRIGGER books_fts_au AFTER UPDATE OF title, description ON books BEGIN "
    "INSERT INTO books_fts(books_fts, rowid, title, description) "
    "VALUES ('delete', old.id, old.title, old.description); "
    "INSERT INTO books_fts(rowid, title, description) VALUES (new.id, new.title, new.description); END",
]
_PG_FTS = (
    "CREATE INDEX ix_books_fts ON books USING gin "
    "(to_tsvector('english', coalesce(title, '') || ' ' || coalesce(description, '')))"
)


def _create_full_text_search() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(_PG_FTS)


def _drop_full_text_search() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("books_fts_ai", "books_fts_ad", "books_fts_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS books_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_books_fts")


def upgrade() -> None:
    op.create_table(
        "books",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("availability", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=120), nullable=False),
        sa.Column("upc", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("image_url", sa.String(length=1000), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_books")),
    )
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_books_availability"), ["availability"], unique=False)
        batch_op.create_index(batch_op.f("ix_books_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_books_price"), ["price"], unique=False)
        batch_op.create_index(batch_op.f("ix_books_rating"), ["rating"], unique=False)
        batch_op.create_index(batch_op.f("ix_books_upc"), ["upc"], unique=False)
    op.create_index("ix_books_category_lower", "books", [sa.text("lower(category)")], unique=False)

    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("slug", sa.String(length=160), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_categories_name")),
    )
    op.create_table(
        "crawl_pages",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("etag", sa.String(length=300), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("next_url", sa.String(length=2000), nullable=True),
        sa.Column("book_id", sa.Integer(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_crawl_pages")),
    )
    op.create_table(
        "scrape_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base_url", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pages_fetched", sa.Integer(), nullable=False),
        sa.Column("pages_not_modified", sa.Integer(), nullable=False),
        sa.Column("pages_failed", sa.Integer(), nullable=False),
        sa.Column("pages_skipped", sa.Integer(), nullable=False),
        sa.Column("books_added", sa.Integer(), nullable=False),
        sa.Column("books_updated", sa.Integer(), nullable=False),
        sa.Column("books_unchanged", sa.Integer(), nullable=False),
        sa.Column("errors_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scrape_runs")),
    )
    with op.batch_alter_table("scrape_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scrape_runs_status"), ["status"], unique=False)

    op.create_table(
        "book_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("book_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.Column("new_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("old_availability", sa.Integer(), nullable=True),
        sa.Column("new_availability", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["book_id"], ["books.id"], name=op.f("fk_book_changes_book_id_books"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["scrape_runs.id"], name=op.f("fk_book_changes_run_id_scrape_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_book_changes")),
    )
    with op.batch_alter_table("book_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_book_changes_book_id"), ["book_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_book_changes_run_id"), ["run_id"], unique=False)

    _create_full_text_search()


def downgrade() -> None:
    _drop_full_text_search()
    with op.batch_alter_table("book_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_book_changes_run_id"))
        batch_op.drop_index(batch_op.f("ix_book_changes_book_id"))

    op.drop_table("book_changes")
    with op.batch_alter_table("scrape_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scrape_runs_status"))

    op.drop_table("scrape_runs")
    op.drop_table("crawl_pages")
    op.drop_table("categories")
    with op.batch_alter_table("books", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_books_upc"))
        batch_op.drop_index(batch_op.f("ix_books_rating"))
        batch_op.drop_index(batch_op.f("ix_books_price"))
        batch_op.drop_index(batch_op.f("ix_books_category"))
        batch_op.drop_index(batch_op.f("ix_books_availability"))

    op.drop_index("ix_books_category_lower", table_name="books")
    op.drop_table("books")
