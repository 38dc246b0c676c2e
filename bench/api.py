"""Load the books API with one server worker and compare it with a bare FastAPI endpoint, in the same run.

    python bench/api.py [--duration 8] [--books 1000] [--log-rounds 8] [--log-only]

Prints req/s, p50, p99 and errors at 32 and 256 connections for GET /api/v1/books, /books/{id},
/books/search, /stats/overview and the bare endpoint, then the request log's cost: two servers, logging on and
off, measured in alternating rounds, at 32 connections (saturation: the cost shows as lost throughput, and so as
a longer queue and a higher median) and at 1 connection (what it adds to one request's own latency).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HEADER, PYTHON, WrkResult, cpu_seconds, cpu_split, free_port, process, require_wrk, run_wrk

ID_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/api/v1/books/" .. ((counter % 1000) + 1))
end
"""

# Every server under test on one core, wrk on the others (see cpu_split); unpinned on a one-core machine.
SERVER_CPUS, WRK_CPUS = cpu_split() or (None, None)

ENDPOINTS = [
    ("GET /api/v1/books", "/api/v1/books", None),
    ("GET /api/v1/books/{id} (1000 ids)", "/api/v1/books/1", ID_SCRIPT),
    ("GET /api/v1/books/search?title=the", "/api/v1/books/search?title=the", None),
    ("GET /api/v1/stats/overview", "/api/v1/stats/overview", None),
]


def seed(url: str, count: int) -> None:
    from vitrine.db import make_engine, make_session_factory, session_scope
    from vitrine.migrate import upgrade
    from vitrine.models import Book, Category

    upgrade(url)
    engine = make_engine(url)
    categories = [f"Category {i}" for i in range(50)]
    with session_scope(make_session_factory(engine)) as session:
        session.add_all(Category(name=name, slug=name.lower().replace(" ", "-"), url="") for name in categories)
        session.add_all(
            Book(
                id=i,
                title=f"The book number {i}",
                price=Decimal(10) + Decimal(i % 5000) / 100,
                rating=i % 5 + 1,
                availability=i % 23,
                category=categories[i % 50],
                upc=f"{i:016x}",
                description="A description of a book, about two hundred characters long. " * 3,
                image_url=f"http://books.local/media/{i}.jpg",
                url=f"http://books.local/catalogue/{i}/index.html",
            )
            for i in range(1, count + 1)
        )
    engine.dispose()


def serve_cmd(port: int) -> list[str]:
    return [PYTHON, "-m", "vitrine", "serve", "--port", str(port), "--workers", "1", "--no-migrate"]


def measure_bare(results: dict[tuple[str, int], WrkResult], duration: int) -> None:
    """The baseline: a bare FastAPI app answering a constant list of 20 books."""
    port = free_port()
    cmd = [PYTHON, "-m", "uvicorn", "baseline_app:app", "--app-dir", str(Path(__file__).parent), "--port", str(port)]
    cmd += ["--workers", "1", "--log-level", "warning", "--no-access-log"]
    url = f"http://127.0.0.1:{port}/books"
    with process(cmd, ready_url=url, cpus=SERVER_CPUS):
        for conns in (32, 256):
            run_wrk(url, conns, 2, cpus=WRK_CPUS)  # warm-up
            results[("bare", conns)] = run_wrk(url, conns, duration, cpus=WRK_CPUS)


def server_env(env: dict[str, str], tmp: Path, name: str, request_log: bool) -> dict[str, str]:
    return {
        **env,
        "VITRINE_OBSERVABILITY__REQUEST_LOG": "true" if request_log else "false",
        "VITRINE_OBSERVABILITY__METRICS_DIR": str(tmp / f"metrics-{name}"),  # each server its own sample files
    }


def measure_endpoints(results: dict[tuple[str, int], WrkResult], env: dict[str, str], tmp: Path, duration: int) -> None:
    """Every endpoint at 32 and 256 connections, on a server of its own with the defaults (request log on)."""
    port = free_port()
    env = server_env(env, tmp, "endpoints", True)
    with process(serve_cmd(port), env=env, ready_url=f"http://127.0.0.1:{port}/api/v1/health", cpus=SERVER_CPUS):
        for label, path, lua in ENDPOINTS:
            for conns in (32, 256):
                url = f"http://127.0.0.1:{port}{path}"
                run_wrk(url, conns, 2, lua=lua, cpus=WRK_CPUS)  # warm-up
                results[(label, conns)] = run_wrk(url, conns, duration, lua=lua, cpus=WRK_CPUS)


def measure_request_log(
    env: dict[str, str], tmp: Path, duration: int, rounds: int
) -> tuple[dict[int, list[tuple[WrkResult, WrkResult]]], dict[str, list[float]]]:
    """The request log's cost: two fresh servers, logging on and off, measured in alternating rounds.

    Both start from the same state and serve the same requests (a server that has served other traffic first
    has larger caches and heap, and is slower per request for it). Alternation lets drift in the machine's speed
    fall on both alike; paired rounds give a ratio each, and the median is kept. Throughput and latency at
    saturation move by several percent from round to round on a small shared machine; the server's own CPU time
    per request (all its threads, the log writer's included) is the steadier figure.
    """
    log_rounds: dict[int, list[tuple[WrkResult, WrkResult]]] = {32: [], 1: []}
    cpu_per_request: dict[str, list[float]] = {"on": [], "off": []}
    ports = {"on": free_port(), "off": free_port()}
    urls = {name: f"http://127.0.0.1:{port}/api/v1/books" for name, port in ports.items()}
    with (
        process(serve_cmd(ports["on"]), server_env(env, tmp, "on", True), urls["on"], SERVER_CPUS) as on_proc,
        process(serve_cmd(ports["off"]), server_env(env, tmp, "off", False), urls["off"], SERVER_CPUS) as off_proc,
    ):
        pids = {"on": on_proc.pid, "off": off_proc.pid}
        for url in urls.values():
            # Warm-up as long as a round: the first thousands of log rows also grow the database and WAL files.
            run_wrk(url, 32, duration, cpus=WRK_CPUS)
        for n in range(rounds):
            for conns, threads in ((32, 2), (1, 1)):
                # Alternate which server goes first, so neither always follows the other's load.
                measured: dict[str, WrkResult] = {}
                for name in ("on", "off") if n % 2 == 0 else ("off", "on"):
                    before = cpu_seconds(pids[name])
                    measured[name] = run_wrk(urls[name], conns, duration, threads=threads, cpus=WRK_CPUS)
                    after = cpu_seconds(pids[name])
                    if conns == 32 and before is not None and after is not None and measured[name].requests:
                        cpu_per_request[name].append((after - before) / measured[name].requests * 1e6)
                log_rounds[conns].append((measured["on"], measured["off"]))
    return log_rounds, cpu_per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--log-rounds", type=int, default=8, help="alternating on/off rounds for the request log")
    parser.add_argument("--log-only", action="store_true", help="measure only the request log's cost")
    args = parser.parse_args()
    require_wrk()

    tmp = Path(tempfile.mkdtemp(prefix="vitrine-bench-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    seed(db_url, args.books)
    env = {
        "VITRINE_DATABASE_URL": db_url,
        "VITRINE_ENV": "development",
        "VITRINE_JOBS__MAX_WORKERS": "1",
        "VITRINE_OBSERVABILITY__JSON_LOGS": "true",
    }

    results: dict[tuple[str, int], WrkResult] = {}
    if not args.log_only:
        measure_bare(results, args.duration)
        measure_endpoints(results, env, tmp, args.duration)
    log_rounds, cpu_per_request = measure_request_log(env, tmp, args.duration, args.log_rounds)

    placement = f"server on CPU {SERVER_CPUS}, wrk on CPUs {WRK_CPUS}" if SERVER_CPUS else "unpinned (one CPU)"
    print(f"\nbooks={args.books} duration={args.duration}s per row, 1 uvicorn worker, wrk 2 threads, {placement}\n")
    if not args.log_only:
        for conns in (32, 256):
            print(f"-- {conns} connections")
            print(HEADER)
            bare = results[("bare", conns)]
            print(bare.row("bare FastAPI, constant 20 books", bare))
            for label, _, _ in ENDPOINTS:
                print(results[(label, conns)].row(label, bare))
            print()
    for conns, pairs in log_rounds.items():
        print(f"-- request log cost, GET /api/v1/books at {conns} connection(s), {len(pairs)} alternating rounds")
        print(HEADER + "   p50 on/off")
        for n, (on_row, off_row) in enumerate(pairs, 1):
            print(off_row.row(f"round {n}: request log off"))
            print(on_row.row(f"round {n}: request log on") + f"   {on_row.p50_ms / off_row.p50_ms - 1:+7.1%}")
        on_p50 = statistics.median(on.p50_ms for on, _ in pairs)
        off_p50 = statistics.median(off.p50_ms for _, off in pairs)
        p50_ratio = statistics.median(on.p50_ms / off.p50_ms for on, off in pairs)
        rps_ratio = statistics.median(on.rps / off.rps for on, off in pairs)
        print(
            f"median p50: off {off_p50:.3f} ms, on {on_p50:.3f} ms; median of paired rounds: "
            f"p50 {p50_ratio - 1:+.1%}, throughput {rps_ratio - 1:+.1%}  -> request log adds {p50_ratio - 1:+.1%} "
            "to the median latency\n"
        )
    if cpu_per_request["on"] and cpu_per_request["off"]:
        on_cpu, off_cpu = statistics.median(cpu_per_request["on"]), statistics.median(cpu_per_request["off"])
        print(
            f"server CPU per request at 32 connections (median of rounds): off {off_cpu:.1f} µs, on {on_cpu:.1f} µs "
            f"-> the request log costs {on_cpu - off_cpu:+.1f} µs ({on_cpu / off_cpu - 1:+.1%}) of CPU per request"
        )


if __name__ == "__main__":
    main()
