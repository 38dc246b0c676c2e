"""``vitrine train`` and ``vitrine ml models|promote``: train and manage models from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from vitrine.config import Settings, get_settings
from vitrine.db import SessionFactory, make_engine, make_session_factory, session_scope
from vitrine.errors import AppError
from vitrine.ml.names import MODEL_NAMES


@contextmanager
def _database(settings: Settings) -> Iterator[SessionFactory]:
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=0)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)


def train_command(
    model: list[str] | None = typer.Option(None, "--model", "-m", help=f"Repeatable; default all: {MODEL_NAMES}"),
    seed: int = typer.Option(42, help="Split and model seed"),
    cv_folds: int = typer.Option(5, min=2, max=10, help="Cross-validation folds on the training split"),
    test_size: float = typer.Option(0.2, min=0.1, max=0.5, help="Held-out share"),
    promote: bool | None = typer.Option(None, "--promote/--no-promote", help="Default: setting ml.auto_promote"),
) -> None:
    """Train the models on the catalogue now (an ml.train job run in this process) and print the leaderboard."""
    from vitrine.jobs.service import run_inline
    from vitrine.ml.tasks import TRAIN_KIND

    unknown = sorted(set(model or []) - set(MODEL_NAMES))
    if unknown:
        raise typer.BadParameter(f"unknown model(s) {unknown}; known: {list(MODEL_NAMES)}")
    params: dict[str, Any] = {"seed": seed, "cv_folds": cv_folds, "test_size": test_size}
    if model:
        params["models"] = model
    if promote is not None:
        params["auto_promote"] = promote
    settings = get_settings()
    with _database(settings) as factory:
        job = run_inline(factory, settings, TRAIN_KIND, params)
    if job.status != "succeeded" or not job.result:
        typer.echo(f"training {job.status}: {job.error}", err=True)
        raise typer.Exit(1)
    result = job.result
    baseline = result["baseline"]
    typer.echo(f"{result['rows']} books (sha256 {result['data_sha256'][:12]}), trained in {result['seconds']:.2f}s")
    chance = result.get("chance") or {}
    rows = [
        {"model": "majority baseline", "accuracy": baseline["accuracy"], "macro_f1": baseline["macro_f1"]},
        {"model": "chance (expected)", "accuracy": chance.get("accuracy", ""), "macro_f1": chance.get("macro_f1", "")},
    ]
    for name, entry in sorted(result["models"].items(), key=lambda item: -item[1]["macro_f1"]):
        rows.append({"model": f"{name} v{entry['version']}", **entry})
    columns = ["model", "accuracy", "macro_f1", "cv_macro_f1", "accuracy_p_value", "training_seconds", "promoted"]
    typer.echo(_table(rows, columns))
    for name, entry in sorted(result["models"].items()):
        typer.echo(f"{name} v{entry['version']}: {entry['promotion']}")


def register(app: typer.Typer) -> None:
    ml = typer.Typer(help="Machine learning: models and versions.", no_args_is_help=True)
    app.add_typer(ml, name="ml")
    app.command("train")(train_command)
    ml.command("train")(train_command)

    @ml.command("models")
    def list_models(name: str | None = typer.Option(None, help="Only this model")) -> None:
        """Registered versions with their held-out scores; * marks the active ones."""
        from vitrine.kit.pagination import PageParams
        from vitrine.ml import service

        settings = get_settings()
        with _database(settings) as factory, factory() as session:
            rows, _ = service.list_versions(session, name, PageParams(page=1, size=1000))
            table = [
                {
                    "model": f"{'*' if r.is_active else ' '}{r.name}",
                    "version": r.version,
                    "accuracy": r.accuracy,
                    "macro_f1": r.macro_f1,
                    "baseline_acc": r.metrics.get("baseline", {}).get("accuracy", ""),
                    "sklearn": r.sklearn_version,
                    "created": r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                }
                for r in rows
            ]
        typer.echo(_table(table, list(table[0]) if table else ["model"]))

    @ml.command("promote")
    def promote(name: str, version: int) -> None:
        """Make VERSION of NAME the active one (rollback: promote an older version)."""
        from vitrine.ml import service

        settings = get_settings()
        with _database(settings) as factory:
            try:
                with session_scope(factory) as session:
                    service.promote(session, name, version, settings.ml.artifacts_dir)
            except AppError as exc:
                typer.echo(f"error: {exc.detail}", err=True)
                raise typer.Exit(1) from None
        typer.echo(f"{name} v{version} is active; API processes follow within {settings.ml.reload_interval_seconds}s")
