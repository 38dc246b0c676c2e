"""Training as a pure function: deterministic, honest about the baseline, preprocessing fitted on train only."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from tests.ml.conftest import FAST, labeled, synthetic_books

from vitrine.ml.features import CLASSES, FEATURE_COLUMNS, feature_matrix
from vitrine.ml.training import (
    TrainingConfig,
    TrainingDataError,
    TrainingResult,
    accuracy_p_value,
    chance_level,
    snapshot_hash,
    train,
)


def test_models_beat_the_majority_baseline_on_a_planted_signal(trained: TrainingResult) -> None:
    baseline = trained.baseline
    assert baseline["strategy"] == "most_frequent"
    for model in trained.models:
        held_out = model.metrics["held_out"]
        assert held_out["accuracy"] > baseline["accuracy"] + 0.3, model.name
        assert held_out["macro_f1"] > baseline["macro_f1"] + 0.3, model.name
        assert model.metrics["beats_baseline"] is True
        assert model.metrics["beats_chance"] is True
        assert model.metrics["accuracy_p_value"] < 0.001


def test_metrics_are_complete(trained: TrainingResult) -> None:
    data = trained.data
    assert data["rows"] == 200
    assert data["train_rows"] + data["test_rows"] == 200
    assert data["test_rows"] == 40
    assert data["stratified"] is True
    assert len(data["sha256"]) == 64
    for model in trained.models:
        m = model.metrics
        matrix = np.asarray(m["held_out"]["confusion_matrix"]["matrix"])
        assert m["held_out"]["confusion_matrix"]["labels"] == list(CLASSES)
        assert matrix.sum() == data["test_rows"]
        assert np.trace(matrix) / matrix.sum() == pytest.approx(m["held_out"]["accuracy"], abs=1e-4)
        assert set(m["held_out"]["per_class"]) == {"1", "2", "3", "4", "5"}
        assert sum(c["support"] for c in m["held_out"]["per_class"].values()) == data["test_rows"]
        assert m["cross_validation"]["folds"] == 3
        assert len(m["cross_validation"]["scores"]) == 3
        assert 0 <= m["cross_validation"]["mean"] <= 1
        assert m["training_seconds"] > 0
        assert m["baseline"] == trained.baseline
        assert m["chance"]["accuracy"] == pytest.approx(0.2, abs=0.01)  # five evenly spread ratings
        assert m["chance"]["macro_f1"] == pytest.approx(0.2, abs=0.01)
        assert m["features"] == list(FEATURE_COLUMNS)
        assert {"python", "sklearn", "numpy", "scipy", "skops"} <= set(m["libraries"])
        assert m["params"]["estimator"]
        assert set(m["profile"]["labels"]) == {"1", "2", "3", "4", "5"}


def test_training_is_deterministic(trained: TrainingResult) -> None:
    again = train(labeled(synthetic_books()), FAST)
    x = feature_matrix(b.book for b in labeled(synthetic_books(30, seed=99, start_id=5000)))
    for first, second in zip(trained.models, again.models, strict=True):
        assert first.name == second.name
        for key in ("held_out", "cross_validation", "baseline", "data", "profile"):
            assert first.metrics[key] == second.metrics[key], key
        assert np.array_equal(first.pipeline.predict_proba(x), second.pipeline.predict_proba(x))


def test_preprocessing_is_fitted_on_the_training_split_only() -> None:
    """A word that appears only in held-out books must not be in any fitted vocabulary, and the scaler's
    means are those of the training rows."""
    books = synthetic_books()
    ids = np.asarray([b["id"] for b in books])
    ratings = np.asarray([b["rating"] for b in books])
    _, test_ids = train_test_split(ids, test_size=0.2, random_state=42, stratify=ratings)
    held_out = set(test_ids[:5].tolist())
    books = [
        {**b, "description": b["description"] + " zanzibarite zanzibarite"} if b["id"] in held_out else b for b in books
    ]
    result = train(labeled(books), TrainingConfig(models=("logistic_regression",), cv_folds=2, n_jobs=1))
    preprocess = result.models[0].pipeline.named_steps["features"]
    assert "zanzibarite" not in preprocess.named_transformers_["description"].vocabulary_
    train_prices = [float(b["price"]) for b in books if b["id"] not in set(test_ids.tolist())]
    scaler = preprocess.named_transformers_["numeric"]
    assert scaler.mean_[FEATURE_COLUMNS.index("price")] == pytest.approx(np.mean(train_prices))
    # And the same data without the held-out word gives the same split: the test ids are what we think they are.
    assert result.data["test_rows"] == len(test_ids)


def test_snapshot_hash_follows_the_data() -> None:
    rows = labeled(synthetic_books(30))
    same = labeled(synthetic_books(30))
    assert snapshot_hash(rows) == snapshot_hash(list(reversed(same)))
    changed = labeled([{**b, "rating": 5 if b["id"] == 3 else b["rating"]} for b in synthetic_books(30)])
    assert snapshot_hash(changed) != snapshot_hash(rows)


def test_refuses_data_that_cannot_be_evaluated() -> None:
    with pytest.raises(TrainingDataError, match="at least 20"):
        train(labeled(synthetic_books(10)), FAST)
    single_class = labeled([{**b, "rating": 3} for b in synthetic_books(40)])
    with pytest.raises(TrainingDataError, match="two distinct ratings"):
        train(single_class, FAST)
    with pytest.raises(TrainingDataError, match="unknown model"):
        train(labeled(synthetic_books(40)), TrainingConfig(models=("deep_magic",)))


def test_chance_level_and_p_value() -> None:
    chance = chance_level(np.asarray([1] * 80 + [2] * 20), np.asarray([1] * 8 + [2] * 2))
    assert chance["accuracy"] == pytest.approx(0.68)
    assert chance["macro_f1"] == pytest.approx(0.5)
    assert accuracy_p_value({"accuracy": 0.23}, 200, 0.225) > 0.4  # the real catalogue: indistinguishable
    assert accuracy_p_value({"accuracy": 0.40}, 200, 0.225) < 0.0001
