"""Hot swap: in-flight requests never fail, and separate API processes follow a promotion within seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.ml.conftest import SECRET, wait_for

from vitrine.auth.testing import bearer_headers, make_account
from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.main import create_app
from vitrine.ml import service
from vitrine.ml.predict import ModelHolder, PredictionLogBuffer
from vitrine.ml.schemas import BookFeaturesIn
from vitrine.ml.training import TrainingResult
from vitrine.models.ml_prediction_log import MLPredictionLog
from vitrine.sandbox.server import free_port

BOOK = {"title": "A quiet river", "price": "33.00", "category": "Travel", "availability": 2, "description": "x"}


def test_predictions_never_fail_while_versions_swap(
    session: Session, session_factory: SessionFactory, trained: TrainingResult, settings: Settings
) -> None:
    artifacts = settings.ml.artifacts_dir
    service.register(session, trained, artifacts, job_id=None, auto_promote=True)
    service.register(session, trained, artifacts, job_id=None, auto_promote=False)
    session.commit()
    holder, buffer = ModelHolder(), PredictionLogBuffer(0.0)
    holder.sync(session_factory, artifacts)
    body = BookFeaturesIn.model_validate(BOOK)
    seen: Counter[int] = Counter()
    failures: list[BaseException] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                seen[service.serve_predictions(holder, buffer, "random_forest", body).version] += 1
            except BaseException as exc:  # any failure is the test failing
                failures.append(exc)
                return

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for version in (2, 1, 2, 1, 2):
            service.promote(session, "random_forest", version, artifacts)
            session.commit()
            assert holder.sync(session_factory, artifacts) == [f"random_forest: v{3 - version} -> v{version}"]
            wait_for(lambda v=version: seen[v] > 0)  # type: ignore[misc]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert set(seen) == {1, 2}
    assert holder.get("random_forest").version == 2  # type: ignore[union-attr]


@pytest.fixture
def api_processes(bg_settings: Settings, tmp_path: Path) -> Iterator[list[str]]:
    """Two real uvicorn processes on the background database, each polling for promotions every 0.2 s."""
    env = {
        **os.environ,
        "VITRINE_ENV": "test",
        "VITRINE_DATABASE_URL": bg_settings.database_url,
        "VITRINE_SECRET_KEY": SECRET,
        "VITRINE_ML__ARTIFACTS_DIR": str(bg_settings.ml.artifacts_dir),
        "VITRINE_ML__RELOAD_INTERVAL_SECONDS": "0.2",
        "VITRINE_OBSERVABILITY__REQUEST_LOG": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    processes, urls = [], []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"api{n}.log").open("wb")
        command = [sys.executable, "-m", "uvicorn", "vitrine.main:create_app", "--factory", "--port", str(port)]
        processes.append(subprocess.Popen([*command, "--log-level", "warning"], env=env, stdout=log, stderr=log))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()


def _serving(url: str, headers: dict[str, str]) -> tuple[int, int] | None:
    """(pid, random_forest version) this process serves, or None while it is not up."""
    try:
        status = httpx.get(f"{url}/api/v1/ml/cache-status", headers=headers, timeout=2).json()
    except httpx.HTTPError:
        return None
    versions = {m["name"]: m["version"] for m in status.get("models", [])}
    return (status["pid"], versions["random_forest"]) if "random_forest" in versions else None


def test_two_api_processes_switch_to_a_promoted_version_without_restart(
    bg_factory: SessionFactory, bg_settings: Settings, trained: TrainingResult, api_processes: list[str]
) -> None:
    artifacts = bg_settings.ml.artifacts_dir
    with session_scope(bg_factory) as session:
        service.register(session, trained, artifacts, job_id=None, auto_promote=True)
        service.register(session, trained, artifacts, job_id=None, auto_promote=False)
        headers = bearer_headers(bg_settings, make_account(session))

    # A starting process loads the active version.
    first = [wait_for(lambda u=url: _serving(u, headers), timeout=30) for url in api_processes]
    assert [version for _, version in first] == [1, 1]
    assert first[0][0] != first[1][0]  # two processes

    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                for url in api_processes:
                    response = client.post(f"{url}/api/v1/ml/predictions", json=BOOK, headers=headers)
                    statuses[response.status_code] += 1

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for version in (2, 1):  # promote, then roll back
            with session_scope(bg_factory) as session:
                service.promote(session, "random_forest", version, artifacts)
            promoted_at = time.monotonic()
            for url in api_processes:
                wait_for(lambda u=url, v=version: (_serving(u, headers) or (0, 0))[1] == v, timeout=5)  # type: ignore[misc]
            assert time.monotonic() - promoted_at < 5
            answer = httpx.post(f"{api_processes[1]}/api/v1/ml/predictions", json=BOOK, headers=headers).json()
            assert answer["version"] == version
    finally:
        stop.set()
        loader.join()
    assert set(statuses) == {200}, statuses  # no request failed during the swaps
    assert statuses[200] > 0


def test_the_reload_thread_follows_promotions_and_writes_samples(
    bg_factory: SessionFactory, bg_settings: Settings, trained: TrainingResult
) -> None:
    artifacts = bg_settings.ml.artifacts_dir
    with session_scope(bg_factory) as session:
        service.register(session, trained, artifacts, job_id=None, auto_promote=True)
        service.register(session, trained, artifacts, job_id=None, auto_promote=False)
        headers = bearer_headers(bg_settings, make_account(session))
    app = create_app(bg_settings, session_factory=bg_factory)
    with TestClient(app) as client:

        def version() -> int:
            status = client.get("/api/v1/ml/cache-status", headers=headers).json()
            return int(next(m["version"] for m in status["models"] if m["name"] == "random_forest"))

        assert version() == 1  # loaded at start-up
        with session_scope(bg_factory) as session:
            service.promote(session, "random_forest", 2, artifacts)
        wait_for(lambda: version() == 2, timeout=5)
        answer = client.post("/api/v1/ml/predictions?model=random_forest", json=[BOOK] * 3, headers=headers)
        assert answer.json()["version"] == 2
        wait_for(lambda: _logged(bg_factory) == 3, timeout=5)  # written by the thread, off the request path


def _logged(factory: SessionFactory) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(MLPredictionLog)) or 0)
