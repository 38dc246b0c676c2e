"""The migrations and the models describe the same schema, on every dialect the suite runs on."""

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import vitrine.models  # noqa: F401
from vitrine.db import Base
from vitrine.migrate import alembic_config, upgrade
from vitrine.migrations.env_filters import include_object
from vitrine.models.request_log import RequestLog


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


def test_request_log_times_survive_the_move_to_integers_on_sqlite(tmp_path: Path) -> None:
    """0007 turns SQLite's text times into integer microseconds, and back on downgrade, without changing a time."""
    url = f"sqlite:///{tmp_path / 'times.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0006")
    stored = ["2026-12-05 08:00:00.123456", "1999-12-31 23:59:59.000000", "2030-01-01 00:00:00.999999"]
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for n, when in enumerate(stored):
                conn.execute(
                    text(
                        "INSERT INTO request_logs (created_at, method, route, status, duration_ms, request_id) "
                        "VALUES (:when, 'GET', '/x', 200, 1.0, :rid)"
                    ),
                    {"when": when, "rid": f"r{n}"},
                )
        command.upgrade(cfg, "0007")
        with Session(engine) as session:
            times = dict(session.execute(select(RequestLog.request_id, RequestLog.created_at)).tuples().all())
        assert times == {
            "r0": datetime(2026, 12, 5, 8, 0, 0, 123456, tzinfo=UTC),
            "r1": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
            "r2": datetime(2030, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),
        }
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT typeof(created_at), created_at FROM request_logs WHERE request_id = 'r0'"))
            assert raw.one() == ("integer", 1796457600123456)
        command.downgrade(cfg, "0006")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT created_at FROM request_logs ORDER BY request_id")).scalars().all()
        assert back == stored
    finally:
        engine.dispose()
