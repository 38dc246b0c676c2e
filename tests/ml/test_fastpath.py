"""The prediction fast path gives exactly the pipeline's probabilities, for every model type."""

from __future__ import annotations

import numpy as np
import pytest
from tests.ml.conftest import labeled, synthetic_books

from vitrine.ml import fastpath
from vitrine.ml.features import feature_matrix
from vitrine.ml.pipelines import MODEL_NAMES, build_pipeline


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fast_path_equals_the_pipeline(name: str) -> None:
    train = labeled(synthetic_books(120))
    x = feature_matrix(b.book for b in train)
    pipeline = build_pipeline(name, seed=3).fit(x, np.asarray([b.rating for b in train]))
    unseen = feature_matrix(b.book for b in labeled(synthetic_books(40, seed=11, start_id=900)))
    fast = fastpath.build(pipeline, unseen[:3])
    assert fast is not None
    assert np.array_equal(fast.predict_proba(unseen), pipeline.predict_proba(unseen))
    for row in range(5):
        assert np.array_equal(fast.predict_proba(unseen[row : row + 1]), pipeline.predict_proba(unseen[row : row + 1]))


def test_a_pipeline_of_another_shape_keeps_the_slow_path() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).normal(size=(30, 3))
    pipeline = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, np.arange(30) % 2)
    assert fastpath.build(pipeline, x[:2]) is None
