"""Prometheus in one process or many.

An app built without ``vitrine serve`` (tests, an embedding program): metrics live in memory and ``/metrics``
renders the default registry. No environment variable is needed.

``vitrine serve`` (whatever its ``--workers``) and ``vitrine worker``: prometheus_client's multiprocess mode, so
the same set-up holds for one process or many. Each
process writes its samples to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges the
files of every process. The parent command calls :func:`prepare_multiprocess_dir` *before* it spawns workers, so
the variable is in each child's environment before the child creates a metric. Layout::

    <observability.metrics_dir>/serve/    API worker processes (wiped by each ``vitrine serve``)
    <observability.metrics_dir>/worker/   Celery worker processes (wiped by each ``vitrine worker``)

``/metrics`` of the API merges every role directory under the root, so with the API and the Celery workers on one
host, one scrape sees HTTP and job metrics together.
"""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import prometheus_client.values as prom_values
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from vitrine.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_METRICS_DIR = "./var/prometheus"
ROLES = ("serve", "worker")

_worker_server_lock = threading.Lock()
_worker_server_started = False


def metrics_root(settings: Settings) -> Path:
    configured = settings.observability.metrics_dir or DEFAULT_METRICS_DIR
    return Path(configured).resolve()


def prepare_multiprocess_dir(settings: Settings, role: str = "serve") -> Path:
    """Switch this process (and the workers it spawns) to multiprocess metrics; returns the directory.

    Wipes ``<metrics_dir>/<role>`` (stale files from a previous run would add old counts to new ones), creates it
    and sets ``PROMETHEUS_MULTIPROC_DIR``. Call it in the parent of the worker processes, before any worker starts.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    directory = metrics_root(settings) / role
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # only sample files: never remove anything else a path might hold
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    # prometheus_client picks its value class when first imported; if something in this process imported it
    # before us, pick again so metric children created from now on (all ours are labelled, so created lazily)
    # are written to the shared files.
    prom_values.ValueClass = prom_values.get_value_class()  # type: ignore[no-untyped-call]
    return directory


def is_multiprocess() -> bool:
    """Whether metrics of this process are written to multiprocess files."""
    return prom_values.ValueClass is not prom_values.MutexValue and bool(os.environ.get(MULTIPROC_ENV))


class _DirectoriesCollector:
    """Merges the sample files of several multiprocess directories (one per role) into one exposition."""

    def __init__(self, directories: Iterable[Path]) -> None:
        self._directories = tuple(directories)

    def collect(self) -> Iterator[Metric]:
        files: list[str] = []
        for directory in self._directories:
            files.extend(sorted(glob.glob(os.path.join(directory, "*.db"))))
        metrics: Iterable[Metric] = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return iter(metrics)


def multiprocess_directories(settings: Settings) -> list[Path]:
    """This process's directory plus the other roles' directories under the same root, without duplicates."""
    found: dict[str, Path] = {}
    own = os.environ.get(MULTIPROC_ENV)
    if own:
        found[os.path.realpath(own)] = Path(own)
    root = metrics_root(settings)
    for role in ROLES:
        candidate = root / role
        if candidate.is_dir():
            found.setdefault(os.path.realpath(candidate), candidate)
    return list(found.values())


def render_directories(directories: Iterable[Path]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DirectoriesCollector(directories))
    return generate_latest(registry)


def render_metrics(settings: Settings) -> bytes:
    """The text exposition of every metric this deployment has, in one process or many."""
    if is_multiprocess():
        return render_directories(multiprocess_directories(settings))
    return generate_latest(REGISTRY)


def mark_current_process_dead() -> None:
    """On a worker's way out: drop its live-gauge files (counters and histograms stay, their totals still count)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory and is_multiprocess() and os.path.isdir(directory):
        mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


def install_celery_hooks() -> None:
    """For ``vitrine worker``: when a prefork child exits, mark it dead in the multiprocess directory."""
    from celery.signals import worker_process_shutdown

    def _on_child_exit(pid: int | None = None, **_kwargs: Any) -> None:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory and os.path.isdir(directory):
            mark_process_dead(pid or os.getpid(), directory)  # type: ignore[no-untyped-call]

    worker_process_shutdown.connect(_on_child_exit, weak=False)


def serve_worker_metrics(settings: Settings) -> int | None:
    """For Celery workers on another host than the API: expose their metrics on their own port (0 = off)."""
    global _worker_server_started
    port = settings.observability.worker_metrics_port
    if not port:
        return None
    from prometheus_client import start_http_server

    with _worker_server_lock:
        if _worker_server_started:
            return port
        own = os.environ.get(MULTIPROC_ENV)
        registry = REGISTRY
        if own and is_multiprocess():
            # Only this host's worker files: the API's /metrics already reports its own.
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_DirectoriesCollector([Path(own)]))
        start_http_server(port, registry=registry)
        _worker_server_started = True
    return port
