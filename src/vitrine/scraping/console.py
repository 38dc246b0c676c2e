"""The terminal side of ``vitrine scrape``: database checks, the progress bar or the summary line, exit codes.

Imported only when the command runs, so ``vitrine --help`` and the other commands do not pay for it.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import SQLAlchemyError

from vitrine.config import Settings, get_settings
from vitrine.db import SessionFactory, make_engine, make_session_factory
from vitrine.scraping.repository import missing_tables
from vitrine.scraping.schemas import CrawlProgress, CrawlResult, RunStatus
from vitrine.scraping.service import normalize_base_url, run_crawl

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130


def summary_line(result: CrawlResult) -> str:
    c = result.counters
    seconds = max(result.duration_seconds, 1e-9)
    line = (
        f"scrape run {result.run_id} {result.status.value}: pages {c.pages_fetched} fetched, "
        f"{c.pages_not_modified} not modified, {c.pages_failed} failed, {c.pages_skipped} skipped; "
        f"books {c.books_added} added, {c.books_updated} updated, {c.books_unchanged} unchanged; "
        f"{c.changes_recorded} price/stock changes; {c.errors} errors; "
        f"{result.duration_seconds:.2f}s ({c.pages_done / seconds:.0f} pages/s)"
    )
    return f"{line}; error: {result.error}" if result.error else line


@contextmanager
def _cancel_on_interrupt(flag: threading.Event) -> Iterator[None]:
    """First Ctrl-C asks the crawl to stop cleanly (status cancelled); a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interactive() -> bool:
    return sys.stdout.isatty()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _run_with_progress(
    console: Console,
    factory: SessionFactory,
    settings: Settings,
    base: str,
    concurrency: int | None,
    cancel: threading.Event,
) -> CrawlResult:
    columns = (
        TextColumn("[bold]crawling[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("pages · {task.fields[books]} books · {task.fields[errors]} errors · {task.fields[rate]} pages/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("crawl", total=None, books=0, errors=0, rate="-")

        def on_progress(update: CrawlProgress) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{update.pages_done / elapsed:.0f}" if elapsed > 0 else "-"
            bar.update(
                task,
                completed=update.pages_done,
                total=max(update.pages_total, update.pages_done) or None,
                books=update.books,
                errors=update.errors,
                rate=rate,
            )

        return run_crawl(
            factory, settings, base_url=base, concurrency=concurrency, progress=on_progress, should_cancel=cancel.is_set
        )


def run_scrape(base_url: str | None, concurrency: int | None) -> None:
    """The body of ``vitrine scrape``; raises ``typer.Exit`` with the exit code."""
    settings = get_settings()
    try:
        base = normalize_base_url(base_url or settings.books_base_url)
    except ValueError as exc:
        _fail(str(exc))
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=2)
    try:
        missing = missing_tables(engine)
    except SQLAlchemyError as exc:
        _fail(f"cannot open the database {engine.url.render_as_string(hide_password=True)}: {exc.__class__.__name__}")
    if missing:
        _fail(f"the database is not migrated (missing tables: {', '.join(missing)}); run `vitrine migrate` first")
    factory = make_session_factory(engine)
    cancel = threading.Event()
    console = Console()
    try:
        with _cancel_on_interrupt(cancel):
            if _interactive():
                result = _run_with_progress(console, factory, settings, base, concurrency, cancel)
            else:
                result = run_crawl(
                    factory, settings, base_url=base, concurrency=concurrency, should_cancel=cancel.is_set
                )
    except SQLAlchemyError as exc:  # e.g. a schema older than the code: no traceback, a hint
        typer.echo(f"error: database error ({exc.__class__.__name__}); is it migrated? run `vitrine migrate`", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        engine.dispose()
    typer.echo(summary_line(result))
    for item in result.error_samples[:5]:
        typer.echo(f"  {item.get('kind')} {item.get('url')}: {item.get('error')}", err=True)
    if result.status is RunStatus.failed:
        raise typer.Exit(EXIT_FAILED)
    if result.status is RunStatus.cancelled:
        raise typer.Exit(EXIT_CANCELLED)
