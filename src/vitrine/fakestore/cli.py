"""`vitrine sync fakestore`: refresh the whole FakeStore database copy now (recorded as a ``fakestore.sync`` job).

The ``sync`` group is shared: another domain adds its command to the same group through ``sync_group(app)``.
"""

from __future__ import annotations

import typer

from vitrine.config import get_settings
from vitrine.db import make_engine, make_session_factory

SYNC_GROUP = "sync"


def sync_group(app: typer.Typer) -> typer.Typer:
    """The ``vitrine sync`` group, created by whichever domain registers first."""
    for info in app.registered_groups:
        if info.name == SYNC_GROUP and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Refresh local copies of external data.", no_args_is_help=True)
    app.add_typer(group, name=SYNC_GROUP)
    return group


def register(app: typer.Typer) -> None:
    group = sync_group(app)

    @group.command("fakestore")
    def sync_fakestore() -> None:
        """Fetch every FakeStore category and product and store them in the database copy."""
        from vitrine.jobs.service import run_inline

        settings = get_settings()
        engine = make_engine(settings.database_url, pool_size=2, max_overflow=0)
        try:
            job = run_inline(make_session_factory(engine), settings, "fakestore.sync")
        finally:
            engine.dispose()
        if job.status != "succeeded":
            typer.echo(f"fakestore sync {job.status}: {job.error}", err=True)
            raise typer.Exit(1)
        typer.echo(f"fakestore sync succeeded (job {job.id}): {job.result}")
