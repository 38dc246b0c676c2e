"""Training and evaluation, free of I/O: rows in, fitted pipelines and their metrics out.

One seeded, stratified split is shared by every candidate model and by the majority-class baseline, so their
held-out scores are comparable. Cross-validation runs on the training part only; the held-out part is touched
once, after fitting. Models are trained in parallel threads (scikit-learn's fitting code releases the GIL), with
native thread pools held to one thread each so two models on two cores do not oversubscribe them.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy
import sklearn
import skops
from joblib import Parallel, delayed
from scipy.stats import binomtest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from vitrine.ml.features import (
    CLASSES,
    FEATURE_COLUMNS,
    NUMERIC_FEATURES,
    BookInput,
    FeatureRow,
    feature_row,
    to_matrix,
)
from vitrine.ml.pipelines import MODEL_NAMES, build_pipeline

MIN_ROWS = 20
PROFILE_BINS = 10


class TrainingDataError(ValueError):
    """The data cannot support a meaningful split and evaluation."""


@dataclass(frozen=True, slots=True)
class LabeledBook:
    book_id: int
    book: BookInput
    rating: int


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    models: tuple[str, ...] = MODEL_NAMES
    seed: int = 42
    test_size: float = 0.2
    cv_folds: int = 5
    n_jobs: int = 2


@dataclass(slots=True)
class TrainedModel:
    name: str
    pipeline: Pipeline
    metrics: dict[str, Any]

    @property
    def macro_f1(self) -> float:
        return float(self.metrics["held_out"]["macro_f1"])

    @property
    def accuracy(self) -> float:
        return float(self.metrics["held_out"]["accuracy"])


@dataclass(slots=True)
class TrainingResult:
    models: list[TrainedModel]
    data: dict[str, Any]
    baseline: dict[str, Any]
    profile: dict[str, Any]
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }


def snapshot_hash(rows: Sequence[LabeledBook]) -> str:
    """SHA-256 of the training rows (id order, every field the features and the target use)."""
    digest = hashlib.sha256()
    for row in sorted(rows, key=lambda r: r.book_id):
        b = row.book
        line = f"{row.book_id}\x1f{b.title}\x1f{float(b.price):.2f}\x1f{b.category}\x1f{b.availability}"
        digest.update(f"{line}\x1f{b.description}\x1f{row.rating}\x1e".encode())
    return digest.hexdigest()


def _scores(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> dict[str, Any]:
    labels = list(CLASSES)
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    per_class = {
        str(label): {
            "precision": round(float(report[str(label)]["precision"]), 4),
            "recall": round(float(report[str(label)]["recall"]), 4),
            "f1": round(float(report[str(label)]["f1-score"]), 4),
            "support": int(report[str(label)]["support"]),
        }
        for label in labels
    }
    present = sorted(set(y_true.tolist()))
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        # Macro F1 over the classes present in the held-out labels: every rating counts equally.
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)), 4),
        "weighted_f1": round(float(f1_score(y_true, y_pred, average="weighted", zero_division=0)), 4),
        "per_class": per_class,
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }


def _profile(rows: Sequence[FeatureRow], y: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Distributions of the training split, the reference for drift monitoring."""
    numeric: dict[str, Any] = {}
    for name in NUMERIC_FEATURES:
        values = np.asarray([float(r[name]) for r in rows])
        inner = np.quantile(values, np.linspace(0, 1, PROFILE_BINS + 1)[1:-1])
        edges = sorted({round(float(e), 6) for e in inner})
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        numeric[name] = {
            "mean": round(float(values.mean()), 6),
            "std": round(float(values.std()), 6),
            "edges": edges,
            "proportions": [round(float(c) / len(values), 6) for c in counts],
        }
    categories = Counter(str(r["category"]) for r in rows)
    labels = Counter(int(v) for v in y.tolist())
    total = len(rows)
    return {
        "rows": total,
        "numeric": numeric,
        "category": {name: round(count / total, 6) for name, count in sorted(categories.items())},
        "labels": {str(c): round(labels.get(c, 0) / total, 6) for c in CLASSES},
    }


@dataclass(frozen=True, slots=True)
class _Task:
    """One unit of parallel work: a cross-validation fold (``fold >= 0``) or the final fit (``fold == -1``)."""

    name: str
    fold: int


def _run_task(
    task: _Task,
    seed: int,
    x_train: np.ndarray[Any, Any],
    y_train: np.ndarray[Any, Any],
    folds: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]],
) -> tuple[_Task, Pipeline | float, float]:
    # OpenMP thread limits are per calling thread: set them here, in the worker.
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        pipeline = build_pipeline(task.name, seed)
        if task.fold < 0:
            pipeline.fit(x_train, y_train)
            return task, pipeline, time.perf_counter() - started
        fit_idx, val_idx = folds[task.fold]
        pipeline.fit(x_train[fit_idx], y_train[fit_idx])
        predicted = pipeline.predict(x_train[val_idx])
        score = float(f1_score(y_train[val_idx], predicted, average="macro", zero_division=0))
        return task, score, time.perf_counter() - started


def train(
    rows: Sequence[LabeledBook],
    config: TrainingConfig | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> TrainingResult:
    """Split, cross-validate and fit every model in ``config.models``; evaluate each once on the held-out part."""
    config = config or TrainingConfig()
    unknown = [name for name in config.models if name not in MODEL_NAMES]
    if unknown:
        raise TrainingDataError(f"unknown model(s) {unknown}; known: {list(MODEL_NAMES)}")
    if len(rows) < MIN_ROWS:
        raise TrainingDataError(f"need at least {MIN_ROWS} books to train, found {len(rows)}")
    ordered = sorted(rows, key=lambda r: r.book_id)
    features = [feature_row(r.book) for r in ordered]
    y = np.asarray([r.rating for r in ordered], dtype=np.int64)
    counts = Counter(y.tolist())
    if len(counts) < 2:
        raise TrainingDataError("need at least two distinct ratings to train a classifier")
    stratified = min(counts.values()) >= 2
    index = np.arange(len(ordered))
    train_idx, test_idx = train_test_split(
        index, test_size=config.test_size, random_state=config.seed, stratify=y if stratified else None
    )
    x = to_matrix(features)
    x_train, x_test, y_train, y_test = x[train_idx], x[test_idx], y[train_idx], y[test_idx]
    folds = min(config.cv_folds, min(Counter(y_train.tolist()).values()))

    baseline_model = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
    baseline_scores = _scores(y_test, baseline_model.predict(x_test))
    baseline = {
        "strategy": "most_frequent",
        "predicted_class": int(baseline_model.classes_[np.argmax(baseline_model.class_prior_)]),
        "accuracy": baseline_scores["accuracy"],
        "macro_f1": baseline_scores["macro_f1"],
    }
    chance = chance_level(y_train, y_test)
    data = {
        "rows": len(ordered),
        "train_rows": len(train_idx),
        "test_rows": len(test_idx),
        "sha256": snapshot_hash(ordered),
        "seed": config.seed,
        "test_size": config.test_size,
        "stratified": stratified,
        "class_counts": {str(c): int(counts.get(c, 0)) for c in CLASSES},
    }
    profile = _profile([features[i] for i in train_idx], y_train)

    splits: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    if folds >= 2:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed)
        splits = list(splitter.split(x_train, y_train))
    # Final fits first (the longest tasks), then every model's folds: small tasks balance the workers.
    tasks = [_Task(name, -1) for name in config.models]
    tasks += [_Task(name, k) for k in range(len(splits)) for name in config.models]

    started = time.perf_counter()
    fitted: dict[str, Pipeline] = {}
    fold_scores: dict[str, dict[int, float]] = {name: {} for name in config.models}
    busy: dict[str, float] = dict.fromkeys(config.models, 0.0)
    runner = Parallel(n_jobs=min(config.n_jobs, len(tasks)), prefer="threads", return_as="generator_unordered")
    calls = (delayed(_run_task)(task, config.seed, x_train, y_train, splits) for task in tasks)
    for done, (task, outcome, task_seconds) in enumerate(runner(calls), start=1):
        busy[task.name] += task_seconds
        if isinstance(outcome, Pipeline):
            fitted[task.name] = outcome
        else:
            fold_scores[task.name][task.fold] = outcome
        if progress is not None:
            what = "final fit" if task.fold < 0 else f"cv fold {task.fold + 1}/{len(splits)}"
            progress(done, len(tasks), f"{task.name}: {what}")

    trained: dict[str, TrainedModel] = {}
    for name in config.models:
        pipeline = fitted[name]
        scores = np.asarray([fold_scores[name][k] for k in range(len(splits))])
        cv: dict[str, Any] = {"folds": len(splits), "metric": "macro_f1", "on": "training split"}
        if len(scores):
            cv.update(
                scores=[round(float(v), 4) for v in scores],
                mean=round(float(scores.mean()), 4),
                std=round(float(scores.std()), 4),
            )
        held_out = _scores(y_test, pipeline.predict(x_test))
        metrics = {
            "held_out": held_out,
            "cross_validation": cv,
            "training_seconds": round(busy[name], 3),
            "baseline": baseline,
            "chance": chance,
            "beats_baseline": beats_baseline(held_out, baseline),
            "beats_chance": beats_baseline(held_out, chance),
            "accuracy_p_value": accuracy_p_value(held_out, len(test_idx), baseline["accuracy"]),
            "data": data,
            "features": list(FEATURE_COLUMNS),
            "libraries": library_versions(),
            "params": _params(pipeline),
            "profile": profile,
        }
        trained[name] = TrainedModel(name=name, pipeline=pipeline, metrics=metrics)
    seconds = time.perf_counter() - started
    models = [trained[name] for name in config.models]
    return TrainingResult(
        models=models,
        data=data,
        baseline=baseline,
        profile=profile,
        seconds=round(seconds, 3),
        timings={m.name: m.metrics["training_seconds"] for m in models},
    )


def beats_baseline(held_out: dict[str, Any], baseline: dict[str, Any]) -> bool:
    """Better than a reference (majority class, or chance) on both accuracy and macro F1."""
    return bool(held_out["macro_f1"] > baseline["macro_f1"] and held_out["accuracy"] > baseline["accuracy"])


def chance_level(y_train: np.ndarray[Any, Any], y_test: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Expected scores of guessing at random with the training split's rating frequencies.

    The majority-class baseline has a near-zero macro F1 by construction (it never predicts four of the five
    ratings), so beating it on macro F1 says little; this is the reference a model must clear to show any signal.
    """
    train_share = Counter(y_train.tolist())
    test_share = Counter(y_test.tolist())
    accuracy = sum(train_share[c] / len(y_train) * test_share[c] / len(y_test) for c in test_share)
    f1 = []
    for c in sorted(test_share):
        recall, precision = train_share[c] / len(y_train), test_share[c] / len(y_test)
        f1.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "strategy": "stratified random guess (expected)",
        "accuracy": round(float(accuracy), 4),
        "macro_f1": round(float(np.mean(f1)), 4),
    }


def accuracy_p_value(held_out: dict[str, Any], test_rows: int, reference: float) -> float:
    """One-sided binomial test: the chance of an accuracy this high if the model were no better than the
    majority-class baseline. Large values mean the held-out set cannot tell them apart."""
    correct = round(held_out["accuracy"] * test_rows)
    return round(float(binomtest(correct, test_rows, min(max(reference, 1e-9), 1 - 1e-9), "greater").pvalue), 4)


def _params(pipeline: Pipeline) -> dict[str, Any]:
    """The final estimator's hyper-parameters, as JSON-safe scalars."""
    estimator = pipeline.steps[-1][1]
    params: dict[str, Any] = {"estimator": type(estimator).__name__}
    for key, value in estimator.get_params(deep=False).items():
        if value is None or isinstance(value, bool | int | float | str):
            params[key] = value
        else:
            params[key] = type(value).__name__
    return params
