"""`vitrine export books`."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import orjson
import typer
from sqlalchemy import select

from vitrine.catalog.schemas import BookRead
from vitrine.config import get_settings
from vitrine.db import make_engine, make_session_factory
from vitrine.models import Book

FIELDS = list(BookRead.model_fields)


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


def write_books(out: TextIO, fmt: ExportFormat, books: list[BookRead]) -> int:
    if fmt is ExportFormat.csv:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        for book in books:
            writer.writerow(book.model_dump(mode="json"))
    else:
        for book in books:
            out.write(orjson.dumps(book.model_dump(mode="json")).decode() + "\n")
    return len(books)


def register(app: typer.Typer) -> None:
    export = typer.Typer(help="Export data.", no_args_is_help=True)
    app.add_typer(export, name="export")

    @export.command("books")
    def export_books(
        fmt: ExportFormat = typer.Option(ExportFormat.csv, "--format", "-f", help="csv or jsonl"),
        output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)"),
    ) -> None:
        """Export every book (id order) as CSV or JSON lines."""
        settings = get_settings()
        engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
        try:
            with make_session_factory(engine)() as session:
                books = [BookRead.model_validate(b) for b in session.scalars(select(Book).order_by(Book.id))]
        finally:
            engine.dispose()
        if output is None:
            count = write_books(sys.stdout, fmt, books)
        else:
            with output.open("w", encoding="utf-8", newline="") as fh:
                count = write_books(fh, fmt, books)
            typer.echo(f"wrote {count} books to {output}", err=True)
