"""``vitrine scrape``: crawl the books site into the configured database."""

from __future__ import annotations

import typer


def scrape(
    base_url: str | None = typer.Option(None, "--base-url", help="Site to crawl (default: VITRINE_BOOKS_BASE_URL)"),
    concurrency: int | None = typer.Option(None, "--concurrency", min=1, help="Parallel requests to the site"),
) -> None:
    """Crawl the books site into the database (books, categories, price/stock history, run record)."""
    from vitrine.scraping.console import run_scrape  # the crawler's imports, only when the command runs

    run_scrape(base_url, concurrency)


def register(app: typer.Typer) -> None:
    app.command("scrape")(scrape)
