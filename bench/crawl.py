"""Crawler benchmark: the full crawl against a fetch-only baseline, same server, same concurrency, same run.

    python bench/crawl.py                      # render a 1000-book sandbox site, serve it with nginx
    python bench/crawl.py --site DIR           # any static copy of the site (e.g. a books.toscrape.com mirror)

The site is served by nginx from a temporary config on a free port (a uvicorn + Starlette StaticFiles process
when nginx is not installed). Measured, alternating, ``--repeat`` times each:

* baseline: GET every page the crawler fetches (listing + detail pages), read the bodies, parse nothing, with the
  crawler's concurrency, keep-alive connection pool and event loop;
* crawl: ``run_crawl`` into a fresh, migrated SQLite database (parse, diff, batched writes, run record);
* re-run: ``run_crawl`` again over the same database (conditional requests: every page answers 304).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from sqlalchemy import select

from vitrine.config import Settings
from vitrine.db import make_engine, make_session_factory
from vitrine.migrate import upgrade
from vitrine.models import CrawlPage
from vitrine.sandbox.books_site import BooksSite, render_site
from vitrine.scraping.schemas import CrawlResult
from vitrine.scraping.service import run_crawl

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 65;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; text/css css; image/x-icon ico; text/plain txt; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"static server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"static server did not listen on {port}")


@contextmanager
def static_server(root: Path, tmp: Path) -> Iterator[tuple[str, str]]:
    """Serve ``root``; yields (base URL, server description). Stops only the process it started."""
    port = free_port()
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root.resolve()))
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
        command = [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
        description = f"nginx {version} (1 worker)"
    else:
        code = textwrap.dedent(
            f"""
            import uvicorn
            from starlette.staticfiles import StaticFiles
            uvicorn.run(StaticFiles(directory={str(root.resolve())!r}, html=True), host="127.0.0.1", port={port},
                        log_level="warning", access_log=False)
            """
        )
        command = [sys.executable, "-c", code]
        description = "uvicorn + Starlette StaticFiles (nginx not installed)"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/", description
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def fetch_all(urls: list[str], concurrency: int, user_agent: str) -> int:
    """The baseline: the crawler's HTTP setup (pool, keep-alive, workers on a queue), no parsing, no database."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    total = 0
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": user_agent}) as session:

        async def worker() -> None:
            nonlocal total
            while not queue.empty():
                url = queue.get_nowait()
                async with session.get(url) as response:
                    total += len(await response.read())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


def run_baseline(urls: list[str], concurrency: int, user_agent: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    import uvloop

    started, cpu = time.perf_counter(), time.process_time()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(fetch_all(urls, concurrency, user_agent))
    return time.perf_counter() - started, time.process_time() - cpu


def fresh_database(template: Path, target: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


Timing = tuple[float, float]  # (wall seconds, CPU seconds of the crawler process)


def crawl(url: str, db_url: str, settings: Settings, concurrency: int) -> tuple[Timing, CrawlResult, list[str]]:
    """((wall seconds, CPU seconds of this process, all threads), result, URLs of the pages the crawl stored)."""
    engine = make_engine(db_url, pool_size=4, max_overflow=4)
    factory = make_session_factory(engine)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        result = run_crawl(factory, settings, base_url=url, concurrency=concurrency)
        timing = (time.perf_counter() - started, time.process_time() - cpu)
        with factory() as session:
            urls = list(session.scalars(select(CrawlPage.url)))
    finally:
        engine.dispose()
    return timing, result, urls


def summarize(label: str, timings: list[tuple[float, float]], pages: int) -> str:
    walls = [wall for wall, _ in timings]
    best, median = min(walls), statistics.median(walls)
    cpu = statistics.median(cpu for _, cpu in timings)
    return (
        f"{label:<26} wall best {best:6.3f} s  median {median:6.3f} s  {pages / median:6.0f} pages/s"
        f"   (crawler process CPU {cpu:5.3f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", type=Path, help="serve this static site instead of rendering the sandbox")
    parser.add_argument("--books", type=int, default=1000, help="sandbox size (default 1000)")
    parser.add_argument("--concurrency", type=int, default=None, help="default: Settings.scraping.concurrency")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    concurrency = args.concurrency or settings.scraping.concurrency
    with tempfile.TemporaryDirectory(prefix="vitrine-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # nginx workers may run as another user
        if args.site:
            root, what = args.site, f"static site {args.site}"
        else:
            root = tmp / "site"
            started = time.perf_counter()
            files = render_site(root, BooksSite(books=args.books, categories=50))
            what = f"sandbox site: {args.books} books, {files} files rendered in {time.perf_counter() - started:.2f} s"
        template = tmp / "template.db"
        upgrade(f"sqlite:///{template}")
        db = tmp / "crawl.db"
        with static_server(root, tmp) as (url, server):
            # Warm-up crawl: warms the OS cache and nginx, and gives the exact list of pages the crawler fetches.
            _, warm, urls = crawl(url, fresh_database(template, db), settings, concurrency)
            pages = len(urls)
            print(f"{what}")
            print(f"served by {server} at {url}; crawler concurrency {concurrency}; {pages} pages per crawl")
            c = warm.counters
            print(f"warm-up crawl: {warm.status.value}, {c.books_added} books, {c.errors} errors")
            baseline: list[tuple[float, float]] = []
            full: list[tuple[float, float]] = []
            rerun: list[tuple[float, float]] = []
            for _ in range(args.repeat):
                baseline.append(run_baseline(urls, concurrency, settings.scraping.user_agent))
                db_url = fresh_database(template, db)
                elapsed, result, _ = crawl(url, db_url, settings, concurrency)
                assert result.counters.books_added == warm.counters.books_added, result
                full.append(elapsed)
                elapsed, result, _ = crawl(url, db_url, settings, concurrency)
                assert result.counters.pages_not_modified == pages, result
                rerun.append(elapsed)
        print(summarize("fetch-only baseline", baseline, pages))
        print(summarize("full crawl (SQLite)", full, pages))
        print(summarize("re-run, nothing changed", rerun, pages))
        ratio = statistics.median(wall for wall, _ in full) / statistics.median(wall for wall, _ in baseline)
        print(f"ratio crawl/baseline (median wall times): {ratio:.2f}")
        print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
