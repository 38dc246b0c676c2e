"""The feature definition: what a model sees, and the guard that the target never gets in."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
from tests.ml.conftest import labeled, synthetic_books

from vitrine.ml.features import (
    FEATURE_COLUMNS,
    TARGET,
    BookInput,
    feature_matrix,
    feature_row,
    scalar_features,
)
from vitrine.ml.pipelines import MODEL_NAMES, build_pipeline
from vitrine.ml.training import TrainingResult


def test_the_target_is_not_a_feature_column() -> None:
    assert TARGET not in FEATURE_COLUMNS
    assert all("rating" not in name for name in FEATURE_COLUMNS)
    assert "rating" not in {f.name for f in dataclasses.fields(BookInput)}


def test_features_do_not_change_when_only_the_rating_changes() -> None:
    """The leakage guard: give every book each possible rating; its features must stay identical."""
    books = synthetic_books(50)
    baseline = feature_matrix(item.book for item in labeled(books))
    for rating in range(1, 6):
        relabeled = labeled([{**b, "rating": rating} for b in books])
        assert [r.rating for r in relabeled] == [rating] * len(books)
        assert np.array_equal(feature_matrix(item.book for item in relabeled), baseline)


def test_trained_pipelines_only_read_feature_columns(trained: TrainingResult) -> None:
    """Every column a pipeline's transformers select is a feature column, and there is one per feature."""
    for model in trained.models:
        preprocess = model.pipeline.named_steps["features"]
        assert preprocess.n_features_in_ == len(FEATURE_COLUMNS)
        selected: set[int] = set()
        for _, _, columns in preprocess.transformers_:
            if isinstance(columns, int | np.integer):
                selected.add(int(columns))
            elif columns is not None and not isinstance(columns, str):
                selected.update(int(c) for c in columns)
        assert selected <= set(range(len(FEATURE_COLUMNS)))
        assert model.metrics["features"] == list(FEATURE_COLUMNS)


def test_feature_row_values() -> None:
    book = BookInput(
        title="  The  Silent   Sea ",
        price=Decimal("12.50"),
        category=" Science  Fiction ",
        availability=0,
        description="Waves. Wind! Who knows? ...more",
    )
    row = feature_row(book)
    assert list(row) == list(FEATURE_COLUMNS)
    assert row["title"] == "The Silent Sea"
    assert row["title_words"] == 3
    assert row["price"] == 12.5
    assert row["in_stock"] == 0
    assert row["category"] == "Science Fiction"
    assert row["description"] == "Waves. Wind! Who knows?"
    assert row["description_sentences"] == 3
    assert set(scalar_features(row)) == set(FEATURE_COLUMNS) - {"title", "description"}


def test_every_pipeline_accepts_an_unknown_category() -> None:
    books = labeled(synthetic_books(60))
    x = feature_matrix(b.book for b in books)
    y = np.asarray([b.rating for b in books])
    unseen = feature_matrix([dataclasses.replace(books[0].book, category="Never Seen Before")])
    for name in MODEL_NAMES:
        pipeline = build_pipeline(name, seed=1).fit(x, y)
        proba = pipeline.predict_proba(unseen)
        assert proba.shape == (1, 5)
        assert abs(float(proba.sum()) - 1.0) < 1e-6
