"""The ``vitrine`` command line. Each domain registers its own commands from its ``cli`` module."""

from __future__ import annotations

import importlib

import typer

from vitrine.config import get_settings

app = typer.Typer(help="Vitrine: commerce-data hub.", no_args_is_help=True, add_completion=False)

# Domains that add commands: each module exposes ``register(app: typer.Typer) -> None``.
DOMAIN_CLIS = (
    "vitrine.catalog.cli",
    "vitrine.scraping.cli",
    "vitrine.auth.cli",
    "vitrine.jobs.cli",
    "vitrine.ml.cli",
    "vitrine.fakestore.cli",
    "vitrine.sandbox.cli",
)


@app.command()
def migrate(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply database migrations."""
    from vitrine.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, min=1, help="Worker processes"),
    reload: bool = typer.Option(False, help="Reload on code changes (development)"),
    migrate_first: bool = typer.Option(True, "--migrate/--no-migrate", help="Apply migrations before serving"),
) -> None:
    """Serve the API (uvicorn)."""
    import uvicorn

    from vitrine.observability.logging import configure_logging
    from vitrine.observability.metrics_setup import prepare_multiprocess_dir

    settings = get_settings()
    configure_logging(settings)
    if migrate_first:
        from vitrine.migrate import upgrade

        upgrade(settings.database_url)
    # Before any worker process starts: every worker (and Celery workers on this host) then writes its metrics
    # to shared files that /metrics merges.
    prepare_multiprocess_dir(settings, "serve")
    uvicorn.run(
        "vitrine.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info" if settings.env.value == "development" else "warning",
        access_log=False,
        log_config=None,  # logging is configured above (structlog: JSON in production)
        proxy_headers=True,
    )


for _module in DOMAIN_CLIS:
    try:
        _mod = importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # a domain not built yet
        if exc.name is None or not _module.startswith(exc.name):
            raise
        continue
    _mod.register(app)
