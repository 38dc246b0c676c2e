"""GET /metrics: the series by route template and status, the shared domain metrics, optional token, and the
multiprocess mode (several processes writing, one scrape adding them up)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from tests.observability.conftest import with_observability

from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.main import create_app

BOOK = "/api/v1/books/{book_id}"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def test_requests_are_counted_by_route_template_and_status(client: TestClient) -> None:
    before = client.get("/metrics").text
    for n in (1, 2, 3):
        assert client.get(f"/api/v1/books/{n}").status_code == 404
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    labels = {"method": "GET", "route": BOOK, "status": "404"}
    assert (
        sample(after, "vitrine_http_requests_total", **labels) - sample(before, "vitrine_http_requests_total", **labels)
        == 3
    )
    assert (
        sample(after, "vitrine_http_request_duration_seconds_count", **labels)
        - sample(before, "vitrine_http_request_duration_seconds_count", **labels)
        == 3
    )
    assert sample(after, "vitrine_http_request_duration_seconds_bucket", le="+Inf", **labels) >= 3
    # Raw paths never become labels.
    assert "/api/v1/books/1" not in after


def test_every_domain_metric_is_exposed(client: TestClient) -> None:
    text = client.get("/metrics").text
    for name in (
        "vitrine_http_requests_total",
        "vitrine_http_request_duration_seconds",
        "vitrine_jobs_total",
        "vitrine_job_duration_seconds",
        "vitrine_upstream_calls_total",
        "vitrine_upstream_call_duration_seconds",
        "vitrine_cache_events_total",
        "vitrine_ml_predictions_total",
        "vitrine_request_log_rows_total",
    ):
        assert f"# TYPE {name} " in text, name


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    client.get("/definitely/not/a/route/no-such-segment")
    text = client.get("/metrics").text
    assert sample(text, "vitrine_http_requests_total", route="<unmatched>", status="404") >= 1
    # Only the label may say where the request went; the raw path never becomes a series.
    assert "no-such-segment" not in text
    assert "/definitely/not" not in text


def test_optional_bearer_token(settings: Settings, session_factory: SessionFactory) -> None:
    app = create_app(
        with_observability(settings, metrics_token="scrape-me-0123456789"), session_factory=session_factory
    )
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        response = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"})
        assert response.status_code == 200
        assert "vitrine_http_requests_total" in response.text


API_PROCESS = textwrap.dedent(
    """
    import sys
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from vitrine import health
    from vitrine.config import Settings
    from vitrine.db import make_engine, make_session_factory
    from vitrine.observability import install, router

    # The app factory's observability wiring without the other domains (their imports take seconds).
    count, read = int(sys.argv[1]), sys.argv[2] == "read"
    settings = Settings(_env_file=None)
    app = FastAPI()
    app.state.settings = settings
    app.state.session_factory = make_session_factory(make_engine(settings.database_url))
    app.state.startup_hooks, app.state.shutdown_hooks = [], []
    install.install(app)
    app.include_router(health.router, prefix="/api/v1")
    app.include_router(router.router)
    with TestClient(app) as client:
        for _ in range(count):
            assert client.get("/api/v1/health").status_code == 200
        if read:
            sys.stdin.readline()  # the test says when the other processes are done
            sys.stdout.write(client.get("/metrics").text)
    """
)

WORKER_PROCESS = textwrap.dedent(
    """
    import os
    from vitrine.observability.metrics import JOBS  # imported before the switch, on purpose
    from vitrine.observability.metrics_setup import is_multiprocess, prepare_multiprocess_dir
    from vitrine.config import Settings

    assert not is_multiprocess()
    directory = prepare_multiprocess_dir(Settings(_env_file=None), role="worker")
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
    assert not (directory / "counter_1.db").exists(), "stale files are wiped"
    assert is_multiprocess()
    JOBS.labels("obs.test", "succeeded").inc(3)
    """
)


def test_several_processes_add_up(tmp_path: Path) -> None:
    """Two API processes and a Celery-like worker process run at once; one /metrics reports their sum."""
    root = tmp_path / "var" / "prometheus"
    (root / "serve").mkdir(parents=True)
    (root / "worker").mkdir(parents=True)
    (root / "worker" / "counter_1.db").write_bytes(b"stale")
    base_env = {
        **os.environ,
        "VITRINE_DATABASE_URL": f"sqlite:///{tmp_path / 'mp.db'}",
        "VITRINE_OBSERVABILITY__REQUEST_LOG": "false",
        "VITRINE_OBSERVABILITY__METRICS_DIR": str(root),
    }
    base_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    api_env = {**base_env, "PROMETHEUS_MULTIPROC_DIR": str(root / "serve")}

    def start(code: str, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    reader = start(API_PROCESS, "3", "read", env=api_env)
    others = [start(API_PROCESS, "4", "no", env=api_env), start(WORKER_PROCESS, env=base_env)]
    try:
        for process in others:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err.decode()
        out, err = reader.communicate(b"go\n", timeout=60)
    finally:
        for process in (reader, *others):
            if process.poll() is None:
                process.kill()
    assert reader.returncode == 0, err.decode()
    text = out.decode()
    labels = {"method": "GET", "route": "/api/v1/health", "status": "200"}
    assert sample(text, "vitrine_http_requests_total", **labels) == 7  # 3 + 4, from two processes
    assert sample(text, "vitrine_http_request_duration_seconds_count", **labels) == 7
    assert sample(text, "vitrine_jobs_total", kind="obs.test", status="succeeded") == 3  # the worker's directory
    assert len(list((root / "serve").glob("counter_*.db"))) == 2


@pytest.mark.parametrize("role", ["bogus", ""])
def test_prepare_rejects_unknown_roles(settings: Settings, role: str) -> None:
    from vitrine.observability.metrics_setup import prepare_multiprocess_dir

    with pytest.raises(ValueError, match="role"):
        prepare_multiprocess_dir(settings, role=role)


def test_celery_child_exit_marks_the_process_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.signals import worker_process_shutdown

    from vitrine.observability.metrics_setup import install_celery_hooks

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / "gauge_livesum_424242.db"
    live.write_bytes(b"")
    counter = tmp_path / "counter_424242.db"
    counter.write_bytes(b"")
    install_celery_hooks()
    worker_process_shutdown.send(sender=None, pid=424242, exitcode=0)
    assert not live.exists()  # live gauges of a dead process go
    assert counter.exists()  # its counts still add up


def test_worker_metrics_port(settings: Settings) -> None:
    import httpx

    from vitrine.observability.metrics_setup import serve_worker_metrics
    from vitrine.sandbox.server import free_port

    assert serve_worker_metrics(settings) is None  # off by default
    port = free_port()
    assert serve_worker_metrics(with_observability(settings, worker_metrics_port=port)) == port
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200
    assert "# TYPE vitrine_jobs_total counter" in response.text
