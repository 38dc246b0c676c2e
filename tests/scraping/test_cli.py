"""``vitrine scrape`` through Typer's runner, on a database file of its own (the command opens its own engine)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vitrine.config import get_settings
from vitrine.migrate import upgrade
from vitrine.sandbox.server import free_port
from vitrine.scraping import cli, console

from .conftest import Sandbox

SUMMARY = re.compile(
    r"^scrape run (\d+) (succeeded|failed|cancelled): pages (\d+) fetched, (\d+) not modified, (\d+) failed, "
    r"(\d+) skipped; books (\d+) added, (\d+) updated, (\d+) unchanged; (\d+) price/stock changes; (\d+) errors; "
    r"[\d.]+s \(\d+ pages/s\)",
    re.MULTILINE,
)


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    cli.register(application)

    @application.command()
    def other() -> None:  # a second command, so Typer keeps "scrape" as a subcommand name
        pass

    return application


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VITRINE_DATABASE_URL", url)
    monkeypatch.setenv("VITRINE_SCRAPING__MAX_RETRIES", "1")
    monkeypatch.setenv("VITRINE_SCRAPING__BACKOFF_BASE_SECONDS", "0.01")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_scrape_prints_one_summary_line_and_succeeds(app: typer.Typer, cli_database: str, sandbox: Sandbox) -> None:
    upgrade(cli_database)
    runner = CliRunner()

    first = runner.invoke(app, ["scrape", "--base-url", sandbox.url, "--concurrency", "3"])
    second = runner.invoke(app, ["scrape", "--base-url", sandbox.url])

    assert first.exit_code == 0, first.output
    assert first.output.count("\n") == 1
    match = SUMMARY.match(first.output)
    assert match is not None, first.output
    assert match.group(2, 3, 7) == ("succeeded", "48", "45")
    assert second.exit_code == 0
    again = SUMMARY.match(second.output)
    assert again is not None
    assert again.group(3, 4, 7, 9) == ("0", "48", "0", "45")


def test_failed_run_exits_non_zero(app: typer.Typer, cli_database: str) -> None:
    upgrade(cli_database)
    result = CliRunner().invoke(app, ["scrape", "--base-url", f"http://127.0.0.1:{free_port()}/"])
    assert result.exit_code == 1
    match = SUMMARY.match(result.output)
    assert match is not None
    assert match.group(2) == "failed"
    assert "error:" in result.output


def test_unmigrated_database_is_a_clear_error(app: typer.Typer, cli_database: str, sandbox: Sandbox) -> None:
    result = CliRunner().invoke(app, ["scrape", "--base-url", sandbox.url])
    assert result.exit_code == 2
    assert "vitrine migrate" in result.output
    assert "Traceback" not in result.output


def test_bad_base_url_is_a_clear_error(app: typer.Typer, cli_database: str) -> None:
    result = CliRunner().invoke(app, ["scrape", "--base-url", "ftp://example.invalid/"])
    assert result.exit_code == 2
    assert "not an http(s) URL" in result.output


def test_terminal_gets_a_progress_bar(
    app: typer.Typer, cli_database: str, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(cli_database)
    monkeypatch.setattr(console, "_interactive", lambda: True)
    result = CliRunner().invoke(app, ["scrape", "--base-url", sandbox.url])
    assert result.exit_code == 0, result.output
    assert "crawling" in result.output
    assert "45 books" in result.output
    assert SUMMARY.search(result.output) is not None
