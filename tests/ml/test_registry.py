"""Versions, promotion, rollback, auto-promotion, and refusal of artifacts that cannot be trusted or used."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sklearn
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sqlalchemy import update
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.errors import Conflict, NotFound
from vitrine.ml import registry, repository, service
from vitrine.ml.features import feature_row
from vitrine.ml.predict import ModelHolder
from vitrine.ml.training import TrainingResult
from vitrine.models.ml_model_version import MLModelVersion


def _register(session: Session, trained: TrainingResult, settings: Settings, auto: bool = True) -> dict[str, dict]:
    summary = service.register(session, trained, settings.ml.artifacts_dir, job_id="job-1", auto_promote=auto)
    session.commit()
    return summary


def _active(session: Session, name: str) -> int | None:
    row = repository.active_version(session, name)
    return row.version if row else None


def test_register_stores_versions_metrics_and_artifacts(
    session: Session, trained: TrainingResult, settings: Settings
) -> None:
    summary = _register(session, trained, settings)
    assert set(summary) == {"logistic_regression", "random_forest"}
    for name, entry in summary.items():
        assert entry["version"] == 1
        assert entry["promoted"] is True
        assert entry["promotion"] == "no active version"
        row = repository.get_version(session, name, 1)
        assert row is not None
        assert row.is_active and row.promoted_at is not None
        assert row.training_job_id == "job-1"
        assert row.sklearn_version == sklearn.__version__
        assert row.macro_f1 == row.metrics["held_out"]["macro_f1"]
        assert row.metrics["data"]["sha256"] == trained.data["sha256"]
        path = registry.resolve(settings.ml.artifacts_dir, row.artifact_path)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.artifact_sha256
        assert path.read_bytes()[:2] == b"PK"  # a skops zip, not a pickle


def test_versions_increase_and_auto_promotion_needs_a_strictly_better_score(
    session: Session, trained: TrainingResult, settings: Settings
) -> None:
    _register(session, trained, settings)
    again = _register(session, trained, settings)  # same data, same seed: the same score
    for name, entry in again.items():
        assert entry["version"] == 2
        assert entry["promoted"] is False
        assert "<=" in entry["promotion"]
        assert _active(session, name) == 1
    # A worse active version is replaced by a better newcomer.
    session.execute(
        update(MLModelVersion)
        .where(MLModelVersion.name == "random_forest", MLModelVersion.version == 1)
        .values(macro_f1=0.01)
    )
    session.commit()
    third = _register(session, trained, settings)
    assert third["random_forest"] == {**third["random_forest"], "version": 3, "promoted": True}
    assert _active(session, "random_forest") == 3
    assert third["logistic_regression"]["promoted"] is False


def test_auto_promotion_can_be_switched_off(session: Session, trained: TrainingResult, settings: Settings) -> None:
    summary = _register(session, trained, settings, auto=False)
    assert all(not entry["promoted"] for entry in summary.values())
    assert _active(session, "random_forest") is None


def test_promote_and_roll_back(session: Session, trained: TrainingResult, settings: Settings) -> None:
    _register(session, trained, settings)
    _register(session, trained, settings)
    artifacts = settings.ml.artifacts_dir
    promoted = service.promote(session, "random_forest", 2, artifacts)
    session.commit()
    assert promoted.is_active and promoted.version == 2
    assert _active(session, "random_forest") == 2
    old = repository.get_version(session, "random_forest", 1)
    assert old is not None and not old.is_active
    service.promote(session, "random_forest", 1, artifacts)  # rollback
    session.commit()
    assert _active(session, "random_forest") == 1
    assert _active(session, "logistic_regression") == 1  # other names untouched
    assert service.promote(session, "random_forest", 1, artifacts).version == 1  # idempotent
    with pytest.raises(NotFound):
        service.promote(session, "random_forest", 9, artifacts)


def test_a_version_saved_by_another_sklearn_is_refused(
    session: Session, session_factory: SessionFactory, trained: TrainingResult, settings: Settings
) -> None:
    _register(session, trained, settings, auto=False)
    session.execute(
        update(MLModelVersion).where(MLModelVersion.name == "random_forest").values(sklearn_version="1.0.2")
    )
    session.commit()
    with pytest.raises(Conflict, match=r"scikit-learn 1\.0\.2; this process runs"):
        service.promote(session, "random_forest", 1, settings.ml.artifacts_dir)
    # Activated behind the API's back: the serving process refuses it too, and says why.
    session.execute(update(MLModelVersion).where(MLModelVersion.name == "random_forest").values(is_active=True))
    session.commit()
    holder = ModelHolder()
    holder.sync(session_factory, settings.ml.artifacts_dir)
    assert holder.get("random_forest") is None
    [error] = holder.errors()
    assert error.name == "random_forest" and "scikit-learn 1.0.2" in error.error
    with pytest.raises(Conflict, match="could not be loaded"):
        service.resolve_model(holder, "random_forest")


def test_a_tampered_artifact_is_refused(session: Session, trained: TrainingResult, settings: Settings) -> None:
    _register(session, trained, settings, auto=False)
    row = repository.get_version(session, "logistic_regression", 1)
    assert row is not None
    path = registry.resolve(settings.ml.artifacts_dir, row.artifact_path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(Conflict, match="SHA-256"):
        service.promote(session, "logistic_regression", 1, settings.ml.artifacts_dir)
    path.unlink()
    with pytest.raises(Conflict, match="cannot be read"):
        service.promote(session, "logistic_regression", 1, settings.ml.artifacts_dir)


def test_untrusted_types_and_paths_outside_the_directory_are_refused(tmp_path: Path) -> None:
    sneaky = Pipeline([("f", FunctionTransformer(func=feature_row))])
    data = sio.dumps(sneaky)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "v0001.skops").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    options = {"sha256": digest, "sklearn_version": sklearn.__version__, "features": None, "label": "m v1"}
    with pytest.raises(registry.CorruptArtifact, match="untrusted types"):
        registry.load(tmp_path, "m/v0001.skops", **options)  # type: ignore[arg-type]
    with pytest.raises(registry.CorruptArtifact, match="inside the artifacts directory"):
        registry.load(tmp_path / "m", "../m/../../etc/passwd", **options)  # type: ignore[arg-type]
    with pytest.raises(registry.IncompatibleArtifact, match="another feature definition"):
        registry.load(tmp_path, "m/v0001.skops", **{**options, "features": ["price"]})  # type: ignore[arg-type]
