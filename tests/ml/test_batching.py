"""Micro-batching: concurrent requests share one call per model, and get exactly their own answers."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tests.ml.conftest import labeled, synthetic_books, wait_for

from vitrine.ml.batching import PredictionBatcher
from vitrine.ml.features import feature_matrix
from vitrine.ml.training import TrainingResult


class Gate:
    """A model whose first call blocks until released, so the test can line requests up behind it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def predict_proba(self, x: Any) -> Any:
        self.entered.set()
        self.release.wait(10)
        return np.ones((len(x), 5)) / 5


@pytest.fixture
def batcher() -> Any:
    b = PredictionBatcher()
    yield b
    b.stop()


def test_queued_requests_share_a_call_and_get_their_own_rows(
    batcher: PredictionBatcher, trained: TrainingResult
) -> None:
    forest, linear = (SimpleNamespace(predict_proba=m.pipeline.predict_proba) for m in trained.models[::-1])
    books = feature_matrix(b.book for b in labeled(synthetic_books(24, seed=5, start_id=700)))
    gate = Gate()
    with ThreadPoolExecutor(max_workers=25) as pool:
        blocked = pool.submit(batcher.predict_proba, gate, books[:1])
        assert gate.entered.wait(10)
        futures = [pool.submit(batcher.predict_proba, forest if i % 2 else linear, books[i : i + 1]) for i in range(24)]
        wait_for(lambda: batcher.pending == 24)
        gate.release.set()
        results = [f.result(timeout=10) for f in futures]
        blocked.result(timeout=10)
    assert batcher.calls == 3  # the gate, then one call per model for the 24 queued requests
    for i, proba in enumerate(results):
        model = forest if i % 2 else linear
        assert np.allclose(proba, model.predict_proba(books[i : i + 1]), rtol=0, atol=1e-12)


def test_a_failing_model_fails_its_requests_only(batcher: PredictionBatcher) -> None:
    def broken(x: Any) -> Any:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        batcher.predict_proba(SimpleNamespace(predict_proba=broken), np.zeros((1, 3), dtype=object))
    ok = SimpleNamespace(predict_proba=lambda x: np.full((len(x), 5), 0.2))
    assert batcher.predict_proba(ok, np.zeros((2, 3), dtype=object)).shape == (2, 5)
