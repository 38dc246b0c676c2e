"""FakeStore read path under load: healthy and warm (vs GET /api/v1/books/{id} in the same run), and with the
upstream stopped (stale cache, then the database copy).

    python bench/fakestore.py [--duration 30] [--warm-duration 10] [--connections 32] [--redis]

Phases, each with its own `vitrine serve` (1 worker) and wrk (2 threads):
  A. upstream healthy, cache warm, production TTL (300 s): books/{id} vs the FakeStore mix;
  B. upstream STOPPED right after warming, cache TTL 2 s: entries expire during the run, the first failures open
     the breaker and every read is answered from the stale cache;
  C. upstream still stopped and a new server process (empty in-process cache; with --redis the cache is flushed):
     every read comes from the database copy.
The mix cycles through 20 product details and 10 list variants (categories, limits, sort). wrk's response hook
counts status codes and X-Vitrine-Source values.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, ROOT, free_port, require_wrk, wait_http
from api import seed

FS = "/api/v1/fakestore/products"
LISTS = [
    FS,
    f"{FS}?sort=desc",
    f"{FS}?limit=5",
    f"{FS}?limit=10&sort=desc",
    f"{FS}?category=electronics",
    f"{FS}?category=jewelery",
    f"{FS}?category=men%27s%20clothing",
    f"{FS}?category=women%27s%20clothing",
    f"{FS}?category=electronics&limit=3",
    f"{FS}?category=jewelery&sort=desc",
]
DETAILS = [f"{FS}/{i}" for i in range(1, 21)]
MIX = DETAILS + LISTS

COUNTING = """
counts = {}
response = function(status, headers, body)
  local source = headers["x-vitrine-source"] or headers["X-Vitrine-Source"] or "-"
  local key = status .. " " .. source
  counts[key] = (counts[key] or 0) + 1
end
"""
REPORT = """
threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write("COUNT " .. k .. " " .. v .. "\\n") end
end
"""


def cycle_script(paths: list[str], counting: bool) -> str:
    items = ", ".join(f'"{p}"' for p in paths)
    script = f"""
paths = {{{items}}}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end
"""
    return script + (COUNTING + REPORT if counting else "")


@dataclass
class Run:
    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int
    counts: dict[str, int]

    @property
    def server_errors(self) -> int:
        return sum(n for key, n in self.counts.items() if key.startswith("5"))

    def row(self) -> str:
        return (
            f"{self.label:<44} {self.rps:>9.0f} {self.p50_ms:>8.2f} {self.p99_ms:>8.2f} "
            f"{self.requests:>9} {self.non_2xx:>7} {self.socket_errors:>6}"
        )


HEADER = f"{'run':<44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-2xx':>7} {'sock':>6}"


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group())  # type: ignore[union-attr]
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(suffix):
            return number * factor
    return number


def wrk(label: str, base: str, paths: list[str], seconds: int, connections: int, counting: bool = False) -> Run:
    fd, script = tempfile.mkstemp(suffix=".lua")
    os.write(fd, cycle_script(paths, counting).encode())
    os.close(fd)
    cmd = [require_wrk(), "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", script]
    try:
        out = subprocess.run([*cmd, base], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)

    def find(pattern: str) -> str:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return match.group(1)

    socket_errors = 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        socket_errors = sum(int(x) for x in m.groups())
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    counts = {f"{k}": int(n) for k, n in re.findall(r"^COUNT (\d+ \S+) (\d+)$", out, re.MULTILINE)}
    return Run(
        label=label,
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"\s50%\s+(\S+)")),
        p99_ms=_ms(find(r"\s99%\s+(\S+)")),
        requests=int(find(r"(\d+) requests in")),
        non_2xx=non_2xx,
        socket_errors=socket_errors,
        counts=counts,
    )


@contextmanager
def started(cmd: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process whose output goes to a file (a full pipe would stall it under load)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_http(ready_url)
        except RuntimeError:
            proc.kill()
            raise RuntimeError(f"{' '.join(cmd)} failed to start; see {log}") from None
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def serve_cmd(port: int) -> list[str]:
    return [PYTHON, "-m", "vitrine", "serve", "--port", str(port), "--workers", "1", "--no-migrate"]


def upstream_cmd(port: int) -> list[str]:
    return [
        PYTHON, "-m", "uvicorn", "--factory", "vitrine.sandbox.fakestore:create_app",
        "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def warm(base: str) -> None:
    with httpx.Client(base_url=base, timeout=10) as client:
        for path in [*MIX, "/api/v1/fakestore/categories"]:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"warming {path}: {response.status_code} {response.text}")


def wait_for_copy(db_url: str, timeout: float = 30.0) -> None:
    """The upsert jobs run after the responses: wait until the copy can answer every list of the mix."""
    from sqlalchemy import func, select

    from vitrine.db import make_engine, make_session_factory
    from vitrine.models.fakestore_category import FakeStoreCategory
    from vitrine.models.fakestore_product import FakeStoreProduct

    engine = make_engine(db_url, pool_size=1, max_overflow=0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with make_session_factory(engine)() as session:
                products = session.scalar(select(func.count()).select_from(FakeStoreProduct))
                unlisted = session.scalar(
                    select(func.count()).select_from(FakeStoreCategory).where(FakeStoreCategory.listed_at.is_(None))
                )
                categories = session.scalar(select(func.count()).select_from(FakeStoreCategory))
            if products == 20 and categories == 4 and unlisted == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"database copy incomplete: {products} products, {unlisted} unlisted categories")
            time.sleep(0.2)
    finally:
        engine.dispose()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match="vitrine:fakestore:*"))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=30, help="seconds of the outage runs")
    parser.add_argument("--warm-duration", type=int, default=10, help="seconds of each healthy run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis", action="store_true", help="use the Redis cache (VITRINE_REDIS_URL)")
    parser.add_argument("--no-request-log", action="store_true", help="turn the request log off (all phases)")
    args = parser.parse_args()
    require_wrk()

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="vitrine-bench-fakestore-"))
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    seed(db_url, 1000)
    up_port = free_port()
    env = {
        "VITRINE_DATABASE_URL": db_url,
        "VITRINE_ENV": "development",
        "VITRINE_JOBS__MAX_WORKERS": "1",
        "VITRINE_OBSERVABILITY__JSON_LOGS": "true",
        "VITRINE_FAKESTORE__BASE_URL": f"http://127.0.0.1:{up_port}",
    }
    if args.no_request_log:
        env["VITRINE_OBSERVABILITY__REQUEST_LOG"] = "false"
    redis_url = os.environ.get("VITRINE_REDIS_URL", "redis://127.0.0.1:6379/0")
    if args.redis:
        env["VITRINE_REDIS_URL"] = redis_url
        flush_redis(redis_url)
    log = tmp / "servers.log"
    runs: list[Run] = []
    conns = args.connections

    upstream = subprocess.Popen(upstream_cmd(up_port), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{up_port}/products/categories")

        # A. healthy, warm, production TTL.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with started(serve_cmd(port), env, f"{base}/api/v1/health", log):
            warm(base)
            wait_for_copy(db_url)
            book_ids = [f"/api/v1/books/{i}" for i in range(1, 1001)]
            wrk("warm-up", base, book_ids, 2, conns)
            wrk("warm-up", base, MIX, 2, conns)
            books = wrk("A  GET /api/v1/books/{id} (1000 ids)", base, book_ids, args.warm_duration, conns)
            healthy = wrk("A  FakeStore mix, upstream healthy, warm", base, MIX, args.warm_duration, conns, True)
            runs += [books, healthy]

        # B. upstream stopped right after warming; entries expire 2 s into the run.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        if args.redis:
            flush_redis(redis_url)
        with started(serve_cmd(port), {**env, "VITRINE_FAKESTORE__CACHE_TTL": "2"}, f"{base}/api/v1/health", log):
            warm(base)
            stop(upstream)
            outage = wrk("B  FakeStore mix, upstream STOPPED (stale)", base, MIX, args.duration, conns, True)
            runs.append(outage)

        # C. still stopped, new process with an empty cache: the database copy answers.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        if args.redis:
            flush_redis(redis_url)
        with started(serve_cmd(port), {**env, "VITRINE_FAKESTORE__CACHE_TTL": "2"}, f"{base}/api/v1/health", log):
            empty = wrk("C  FakeStore mix, STOPPED, empty cache", base, MIX, args.duration, conns, True)
            runs.append(empty)
    finally:
        stop(upstream)

    cache = "redis" if args.redis else "in-process"
    request_log = "off" if args.no_request_log else "on"
    print(f"\nFakeStore read path: {conns} connections, 1 uvicorn worker, wrk 2 threads, cache={cache}, ", end="")
    print(f"request log {request_log}, load average before: {load_before}")
    print(f"mix = {len(DETAILS)} product details + {len(LISTS)} list variants, cycled\n")
    print(HEADER)
    for run in runs:
        print(run.row())
    print()
    for run in runs[1:]:
        shares = ", ".join(f"{k}: {v}" for k, v in sorted(run.counts.items()))
        print(f"{run.label.split()[0]} status/source counts: {shares}")
    ratio_p50 = healthy.p50_ms / books.p50_ms if books.p50_ms else float("inf")
    ratio_p99 = healthy.p99_ms / books.p99_ms if books.p99_ms else float("inf")
    ratio_rps = healthy.rps / books.rps
    print(f"\nhealthy & warm vs books/{{id}}: p50 x{ratio_p50:.2f}, p99 x{ratio_p99:.2f}, req/s x{ratio_rps:.2f}")
    for run in (outage, empty):
        ok = run.server_errors == 0 and run.socket_errors == 0 and run.p99_ms < 50
        print(
            f"{run.label.split()[0]}: 5xx={run.server_errors} socket errors={run.socket_errors} "
            f"p99={run.p99_ms:.2f} ms -> {'OK' if ok else 'FAIL'}"
        )
    print(f"server log: {log}")


if __name__ == "__main__":
    main()
