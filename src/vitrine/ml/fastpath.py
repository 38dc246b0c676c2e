"""The same numbers as ``Pipeline.predict_proba``, without scikit-learn's per-call dispatch overhead.

For one book, a fitted pipeline spends most of its time outside the arithmetic: ``ColumnTransformer.transform``
and ``RandomForestClassifier.predict_proba`` dispatch every transformer and every tree through joblib with a
fresh configuration and warning context (about 0.1 ms per tree here), and re-inspect the input each time. This
module calls the fitted transformers and trees directly, in the same order and with the same dtypes.

It is only used when a probe proves it equal to the pipeline for a loaded model (``build`` returns ``None``
otherwise, and prediction uses the pipeline), so a scikit-learn change cannot silently alter predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import structlog
from sklearn import config_context
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array

log = structlog.get_logger(__name__)

Matrix = np.ndarray[Any, Any]
ProbaFn = Callable[[Matrix], Matrix]


class FastPredictor:
    def __init__(self, columns: ColumnTransformer, estimator: Any) -> None:
        self.parts = [(transformer, cols) for _, transformer, cols in columns.transformers_ if transformer != "drop"]
        self.sparse_output = bool(columns.sparse_output_)
        self.estimator = estimator
        forest = isinstance(estimator, RandomForestClassifier) and estimator.n_outputs_ == 1
        self.trees = [tree.tree_ for tree in estimator.estimators_] if forest else None
        self.n_classes = int(estimator.n_classes_) if forest else 0

    def transform(self, x: Matrix) -> Any:
        blocks = [transformer.transform(x[:, cols]) for transformer, cols in self.parts]
        if self.sparse_output:
            return sp.hstack([sp.csr_matrix(b) for b in blocks]).tocsr()
        return np.hstack([b.toarray() if sp.issparse(b) else b for b in blocks])

    def predict_proba(self, x: Matrix) -> Matrix:
        z = self.transform(x)
        if self.trees is None:
            proba: Matrix = self.estimator.predict_proba(z)
            return proba
        # What RandomForestClassifier.predict_proba computes: the mean of its trees' leaf class fractions, here
        # read from each fitted tree structure directly (each estimator's predict_proba re-checks it is fitted).
        z = check_array(z, accept_sparse="csr", dtype=np.float32)
        k = self.n_classes
        total: Matrix = np.zeros((z.shape[0], k), dtype=np.float64)
        for tree in self.trees:
            total += tree.predict(z)[:, :k]
        total /= len(self.trees)
        return total


def build(pipeline: Pipeline, probe: Matrix) -> FastPredictor | None:
    """A fast predictor for ``pipeline`` if it gives exactly the pipeline's probabilities on ``probe``."""
    steps = pipeline.steps
    if len(steps) != 2 or not isinstance(steps[0][1], ColumnTransformer):
        return None
    columns = steps[0][1]
    if any(t == "passthrough" for _, t, _ in columns.transformers_):
        return None
    try:
        fast = FastPredictor(columns, steps[1][1])
        with config_context(assume_finite=True, skip_parameter_validation=True):
            expected = pipeline.predict_proba(probe)
            actual = fast.predict_proba(probe)
    except Exception as exc:  # any surprise: the pipeline itself is always correct
        log.warning("ml.fastpath.unavailable", reason=repr(exc))
        return None
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
        log.warning("ml.fastpath.mismatch", max_difference=float(np.max(np.abs(actual - expected))))
        return None
    return fast
