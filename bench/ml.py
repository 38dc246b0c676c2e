"""Prediction latency and throughput through the API, and the hot swap under load.

    python bench/ml.py [--database-url URL --artifacts-dir DIR] [--model random_forest] [--duration 8]
                       [--connections 1,4,32] [--workers 1] [--swap-check]

Without --database-url, a temporary SQLite database gets 1000 synthetic books (random ratings). A model with no
active version is trained first (only that model). Then `vitrine serve` starts and wrk (2 threads) posts one
book per request to POST /api/v1/ml/predictions?model=... as a signed-in user, at each connection count.
Prints req/s, p50 and p99 (wrk's latency distribution), plus the in-process cost of one predict_proba.

--swap-check: registers a second version, starts wrk for --duration seconds, promotes the new version two
seconds in, and reports how long until every worker process answers with it, and any failed request.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HEADER, PYTHON, WrkResult, free_port, require_wrk, run_wrk
from vitrine.config import Environment, Settings

WORDS = [
    *("river", "mountain", "letter", "window", "garden", "morning", "silver", "story", "journey", "family"),
    *("city", "winter", "secret", "house", "war", "love", "murder", "island", "queen", "dragon", "school"),
    *("summer", "night", "ocean", "friend", "stranger", "library", "road", "fire"),
]
CATEGORIES = [f"Category {i}" for i in range(1, 51)]

LUA = """
counter = 0
bodies = {BODIES}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {TOKEN}"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, bodies[(counter % #bodies) + 1])
end
"""


def synthetic_catalogue(url: str, count: int) -> None:
    from vitrine.db import make_engine, make_session_factory, session_scope
    from vitrine.models import Book, Category

    rng = random.Random(3)
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        session.add_all(Category(name=name, slug=name.lower().replace(" ", "-"), url="") for name in CATEGORIES)
        session.add_all(
            Book(
                id=i,
                title=" ".join(rng.sample(WORDS, rng.randint(2, 6))).title(),
                price=Decimal(f"{rng.uniform(10, 60):.2f}"),
                rating=rng.randint(1, 5),
                availability=rng.randint(0, 22),
                category=rng.choice(CATEGORIES),
                upc=f"{i:016x}",
                description=" ".join(rng.choices(WORDS, k=rng.randint(40, 200))).capitalize() + ".",
            )
            for i in range(1, count + 1)
        )
    engine.dispose()


def sample_bodies(settings: Settings, n: int = 20) -> list[dict[str, object]]:
    from sqlalchemy import select

    from vitrine.db import make_engine, make_session_factory
    from vitrine.models import Book

    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        books = session.scalars(select(Book).order_by(Book.id).limit(n)).all()
        bodies: list[dict[str, object]] = [
            {
                "title": b.title,
                "price": str(b.price),
                "category": b.category,
                "availability": b.availability,
                "description": b.description,
            }
            for b in books
        ]
    engine.dispose()
    return bodies


def ensure_versions(settings: Settings, model: str, minimum: int) -> list[int]:
    """Train ``model`` until it has ``minimum`` versions; the first is promoted. Returns the version numbers."""
    from vitrine.db import make_engine, make_session_factory
    from vitrine.ml import repository, service
    from vitrine.ml.training import TrainingConfig

    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    while True:
        with factory() as session:
            rows, _ = repository.list_versions(session, name=model, offset=0, limit=100)
            active = repository.active_version(session, model)
        if len(rows) >= minimum and active is not None:
            engine.dispose()
            return sorted(r.version for r in rows)
        started = time.perf_counter()
        summary = service.run_training(factory, settings, TrainingConfig(models=(model,)), auto_promote=active is None)
        entry = summary["models"][model]
        print(
            f"trained {model} v{entry['version']} on {summary['rows']} books in {time.perf_counter() - started:.1f}s "
            f"(accuracy {entry['accuracy']}, macro F1 {entry['macro_f1']}, baseline accuracy "
            f"{summary['baseline']['accuracy']})"
        )


def token_for_bench_user(settings: Settings) -> str:
    from vitrine.auth.testing import bearer_headers, make_account
    from vitrine.db import make_engine, make_session_factory, session_scope

    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as session:
        header = bearer_headers(settings, make_account(session, username=f"bench-{secrets.token_hex(3)}"))
    engine.dispose()
    return header["Authorization"].removeprefix("Bearer ")


def in_process_latency(settings: Settings, model: str, bodies: list[dict[str, object]]) -> tuple[float, float]:
    """p50 and p99 (ms) of one feature extraction + predict_proba, without HTTP."""
    from vitrine.db import make_engine, make_session_factory
    from vitrine.ml import repository
    from vitrine.ml.features import BookInput
    from vitrine.ml.predict import load_version, predict

    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as session:
        row = repository.active_version(session, model)
        assert row is not None
        loaded = load_version(row, settings.ml.artifacts_dir)
    engine.dispose()
    books = [
        BookInput(
            str(b["title"]),
            Decimal(str(b["price"])),
            str(b["category"]),
            int(str(b["availability"])),
            str(b["description"]),
        )
        for b in bodies
    ]
    times = []
    for i in range(600):
        started = time.perf_counter()
        predict(loaded, [books[i % len(books)]])
        times.append((time.perf_counter() - started) * 1000)
    times = sorted(times[100:])
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


@contextmanager
def server(command: list[str], env: dict[str, str], log_path: Path) -> Iterator[None]:
    """``vitrine serve`` in its own process group (its workers too), logging to a file; all stopped on exit."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log, start_new_session=True)
    try:
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def cache_status(base: str, token: str) -> dict[str, object] | None:
    try:
        response = httpx.get(f"{base}/api/v1/ml/cache-status", headers={"Authorization": f"Bearer {token}"}, timeout=2)
        return response.json() if response.status_code == 200 else None
    except httpx.HTTPError:
        return None


def serving(base: str, token: str, model: str) -> tuple[int, int] | None:
    status = cache_status(base, token)
    if not status:
        return None
    versions = {m["name"]: m["version"] for m in status["models"]}  # type: ignore[attr-defined]
    return (int(status["pid"]), versions[model]) if model in versions else None  # type: ignore[call-overload]


def swap_check(settings: Settings, base: str, token: str, model: str, workers: int, lua: str, duration: int) -> None:
    from vitrine.db import make_engine, make_session_factory, session_scope
    from vitrine.ml import repository, service

    pids: dict[int, int] = {}
    deadline = time.monotonic() + 30
    while len(pids) < workers and time.monotonic() < deadline:
        seen = serving(base, token, model)
        if seen:
            pids[seen[0]] = seen[1]
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    with factory() as session:
        active = repository.active_version(session, model)
        rows, _ = repository.list_versions(session, name=model, offset=0, limit=100)
    assert active is not None
    target = max(r.version for r in rows if r.version != active.version)
    print(f"\nswap check: {workers} worker(s) {sorted(pids)} serve {model} v{active.version}; promoting v{target}")
    fd, script = tempfile.mkstemp(suffix=".lua")
    os.write(fd, lua.encode())
    os.close(fd)
    wrk = subprocess.Popen(
        [require_wrk(), "-t2", "-c8", f"-d{duration}s", "--latency", "-s", script, f"{base}/api/v1/ml/predictions"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(2)
    with session_scope(factory) as session:
        service.promote(session, model, target, settings.ml.artifacts_dir)
    promoted = time.monotonic()
    switched: dict[int, float] = {}
    while len(switched) < len(pids) and time.monotonic() - promoted < 30:
        seen = serving(base, token, model)
        if seen and seen[1] == target and seen[0] not in switched:
            switched[seen[0]] = time.monotonic() - promoted
    out, _ = wrk.communicate()
    os.unlink(script)
    engine.dispose()
    for pid, seconds in sorted(switched.items()):
        print(f"  worker pid {pid}: serving v{target} {seconds:.2f}s after the promotion (observed)")
    missing = sorted(set(pids) - set(switched))
    if missing:
        print(f"  workers not seen with v{target} within 30 s: {missing}")
    requests = out.split("requests in")[0].split()[-1] if "requests in" in out else "?"
    non_2xx = [line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line]
    print(f"  load during the swap: {requests} requests, failures: {non_2xx or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="an existing catalogue (default: temporary, 1000 synthetic books)")
    parser.add_argument("--artifacts-dir", type=Path, help="model artifacts of that database (default: temporary)")
    parser.add_argument("--model", default="random_forest")
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--connections", default="1,4,32")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--swap-check", action="store_true")
    args = parser.parse_args()
    require_wrk()

    tmp = Path(tempfile.mkdtemp(prefix="vitrine-bench-ml-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    from vitrine.migrate import upgrade

    upgrade(url)
    if not args.database_url:
        synthetic_catalogue(url, 1000)
    secret = secrets.token_urlsafe(48)
    artifacts = args.artifacts_dir or tmp / "models"
    settings = Settings(
        env=Environment.production,
        database_url=url,
        secret_key=secret,  # type: ignore[arg-type]
        ml={"artifacts_dir": artifacts, "reload_interval_seconds": 1.0},  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    ensure_versions(settings, args.model, 2 if args.swap_check else 1)
    token = token_for_bench_user(settings)
    bodies = sample_bodies(settings)
    p50, p99 = in_process_latency(settings, args.model, bodies)
    print(f"in process, one book: feature extraction + predict_proba p50 {p50:.2f} ms, p99 {p99:.2f} ms")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "VITRINE_ENV": "production",
        "VITRINE_DATABASE_URL": url,
        "VITRINE_SECRET_KEY": secret,
        "VITRINE_ML__ARTIFACTS_DIR": str(artifacts),
        "VITRINE_ML__RELOAD_INTERVAL_SECONDS": "1.0",
    }
    command = [PYTHON, "-m", "vitrine", "serve", "--port", str(port), "--workers", str(args.workers), "--no-migrate"]
    lua = LUA.replace("{TOKEN}", token).replace(
        "{BODIES}", "{" + ", ".join(json.dumps(json.dumps(b)) for b in bodies) + "}"
    )
    target = f"{base}/api/v1/ml/predictions?model={args.model}"
    results: dict[int, WrkResult] = {}
    log_path = tmp / "serve.log"
    with server(command, env, log_path):
        deadline = time.monotonic() + 120
        while serving(base, token, args.model) is None:
            if time.monotonic() > deadline:
                sys.exit(f"the server did not serve the model within 120 s; see {log_path}")
            time.sleep(0.2)
        for connections in [int(c) for c in args.connections.split(",")]:
            threads = min(2, connections)
            run_wrk(target, connections, 2, threads=threads, lua=lua)  # warm-up
            results[connections] = run_wrk(target, connections, args.duration, threads=threads, lua=lua)
        print(f"\nPOST /api/v1/ml/predictions?model={args.model}, one book per request, {args.workers} worker(s),")
        print(f"wrk 2 threads, {args.duration}s per row, load average before: {os.getloadavg()[0]:.2f}\n")
        print(HEADER.replace("vs bare", ""))
        for connections, result in results.items():
            print(result.row(f"{connections} connection(s)"))
        if args.swap_check:
            swap_check(settings, base, token, args.model, args.workers, lua, args.duration)


if __name__ == "__main__":
    main()
