"""The migrations and the models describe the same schema, on every dialect the suite runs on."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import Engine

import vitrine.models  # noqa: F401
from vitrine.db import Base
from vitrine.migrate import alembic_config, upgrade
from vitrine.migrations.env_filters import include_object


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_one_linear_history_that_upgrades_and_downgrades(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, "the migration tree must have exactly one head"
    revisions = list(script.walk_revisions())
    assert all(not rev.dependencies for rev in revisions)
    url = f"sqlite:///{tmp_path / 'cycle.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(url)  # and back up again
