"""``vitrine worker``, ``vitrine beat`` and ``vitrine jobs run|cleanup``."""

from __future__ import annotations

import json
import os
import signal
import threading
from typing import Any

import typer

from vitrine.config import Settings, get_settings


def _celery_settings() -> Settings:
    settings = get_settings()
    if settings.jobs.backend != "celery" or not settings.redis_url:
        typer.echo("Set VITRINE_REDIS_URL and VITRINE_JOBS__BACKEND=celery to run Celery workers.", err=True)
        raise typer.Exit(2)
    return settings


def _prepare_process(settings: Settings, *, metrics_role: str | None = None) -> None:
    """Structured logs, and (for workers) multiprocess metrics, set up the way the observability domain wants."""
    try:
        from vitrine.observability.logging import configure_logging
    except ModuleNotFoundError:
        return
    configure_logging(settings)
    if metrics_role is None:
        return
    from vitrine.observability import metrics_setup

    metrics_setup.prepare_multiprocess_dir(settings, metrics_role)  # before the pool forks
    metrics_setup.install_celery_hooks()
    metrics_setup.serve_worker_metrics(settings)


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        concurrency: int | None = typer.Option(
            None, "--concurrency", "-c", min=1, help="Job processes (default: VITRINE_JOBS__MAX_WORKERS)"
        ),
        loglevel: str = typer.Option("info", help="Celery log level"),
        pool: str = typer.Option("prefork", help="Celery pool: prefork, threads or solo"),
    ) -> None:
        """Run a Celery worker that executes jobs (start as many as you need, on any machine)."""
        settings = _celery_settings()
        _prepare_process(settings, metrics_role="worker")
        from vitrine.jobs.celery_app import create_celery, queue_name

        celery = create_celery(settings)
        celery.worker_main(
            [
                "worker",
                f"--queues={queue_name(settings)}",
                f"--concurrency={concurrency or settings.jobs.max_workers}",
                f"--loglevel={loglevel}",
                f"--pool={pool}",
                f"--hostname=vitrine-{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
            ]
        )

    @app.command()
    def beat() -> None:
        """Run the scheduler of a Celery deployment (periodic crawl, retention clean-up, lost-job watchdog)."""
        settings = _celery_settings()
        _prepare_process(settings)
        from vitrine.jobs.beat import run_beat

        stop = threading.Event()

        def _stop(_signum: int, _frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        run_beat(settings, stop)

    jobs = typer.Typer(help="Run jobs in this process.", no_args_is_help=True)
    app.add_typer(jobs, name="jobs")

    @jobs.command("run")
    def run(
        kind: str = typer.Argument(..., help="Job kind, e.g. scraping.crawl_books"),
        params: str = typer.Option("{}", help="Parameters as a JSON object"),
    ) -> None:
        """Run a job now, in this process, recording it like any other job."""
        _run(kind, params)

    @jobs.command("cleanup")
    def cleanup(days: int | None = typer.Option(None, min=0, help="Retention in days (default: settings)")) -> None:
        """Delete job records, request logs and audit events older than the retention period."""
        _run("jobs.cleanup", json.dumps({} if days is None else {"retention_days": days}))


def _run(kind: str, params_json: str) -> None:
    from vitrine.db import make_engine, make_session_factory
    from vitrine.jobs.registry import registered_kinds
    from vitrine.jobs.service import run_inline

    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"--params is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise typer.BadParameter("--params must be a JSON object")
    if kind not in registered_kinds():
        raise typer.BadParameter(f"unknown job kind {kind!r}; known: {', '.join(registered_kinds())}")
    settings = get_settings()
    _prepare_process(settings)
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=2)
    try:
        job = run_inline(make_session_factory(engine), settings, kind, params)
    finally:
        engine.dispose()
    typer.echo(json.dumps({"job_id": job.id, "status": job.status, "result": job.result, "error": job.error}, indent=2))
    if job.status != "succeeded":
        raise typer.Exit(1)
