"""``vitrine demo`` (everything offline: the sandboxes stand in for the books site and FakeStoreAPI) and
``vitrine sandbox books|fakestore`` (one stand-in on its own, for trying the crawler or the client by hand)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import typer

from vitrine.sandbox.server import ThreadedServer

sandbox_app = typer.Typer(help="Local stand-ins for the external services (offline use, tests, benchmarks).")


@dataclass
class Demo:
    books_site: ThreadedServer
    fakestore: ThreadedServer
    database_url: str
    books: int

    def stop(self) -> None:
        self.books_site.stop()
        self.fakestore.stop()


def prepare_demo(database: Path, books: int = 1000) -> Demo:
    """Start both sandboxes on free local ports, point the settings at them, migrate and crawl the books site."""
    from vitrine.config import get_settings
    from vitrine.db import make_engine, make_session_factory
    from vitrine.migrate import upgrade
    from vitrine.sandbox.books_site import BooksSite
    from vitrine.sandbox.fakestore import FakeStoreSandbox
    from vitrine.scraping.service import run_crawl

    books_site = ThreadedServer(BooksSite(books=books, categories=min(50, max(1, books // 20)))).start()
    fakestore = ThreadedServer(FakeStoreSandbox()).start()
    database.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{database}"
    os.environ.update(
        {
            "VITRINE_ENV": "development",
            "VITRINE_DATABASE_URL": url,
            "VITRINE_BOOKS_BASE_URL": books_site.url,
            "VITRINE_FAKESTORE__BASE_URL": fakestore.url.rstrip("/"),
        }
    )
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(url)
    engine = make_engine(url)
    try:
        result = run_crawl(make_session_factory(engine), settings, base_url=books_site.url)
    finally:
        engine.dispose()
    from vitrine.scraping.console import summary_line

    typer.echo(f"demo: {summary_line(result)}")
    return Demo(books_site, fakestore, url, books)


def demo(
    port: int = typer.Option(8000, help="Port of the API"),
    books: int = typer.Option(1000, min=1, max=5000, help="Books on the local books site"),
    database: Path = typer.Option(Path("./var/demo.db"), help="SQLite file of the demo"),
) -> None:
    """Run Vitrine offline: local books site and FakeStore sandboxes, a crawled catalogue, the API on PORT."""
    from vitrine.cli import serve

    running = prepare_demo(database, books)
    typer.echo(f"demo: books site {running.books_site.url}, FakeStore {running.fakestore.url}")
    typer.echo(f"demo: API on http://127.0.0.1:{port}/docs (create an admin: vitrine users create --role admin)")
    try:
        serve(host="127.0.0.1", port=port, workers=1, reload=False, migrate_first=False)
    finally:
        running.stop()


@sandbox_app.command("books")
def books_site(
    port: int = typer.Option(9000, help="Port"),
    books: int = typer.Option(1000, min=1, max=5000, help="Books in the catalogue"),
    categories: int = typer.Option(50, min=1, max=200, help="Categories"),
) -> None:
    """Serve a local books site in the real site's markup (generated from fixture data)."""
    import uvicorn

    from vitrine.sandbox.books_site import BooksSite

    typer.echo(f"books site on http://127.0.0.1:{port}/")
    uvicorn.run(BooksSite(books=books, categories=categories), host="127.0.0.1", port=port, log_level="warning")


@sandbox_app.command("fakestore")
def fakestore_site(port: int = typer.Option(9100, help="Port")) -> None:
    """Serve a FakeStoreAPI-compatible sandbox (the real routes and shapes, switchable faults)."""
    import uvicorn

    from vitrine.sandbox.fakestore import FakeStoreSandbox

    typer.echo(f"FakeStore sandbox on http://127.0.0.1:{port}")
    uvicorn.run(FakeStoreSandbox(), host="127.0.0.1", port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.add_typer(sandbox_app, name="sandbox")
