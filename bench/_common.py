"""Helpers shared by the benchmark scripts: start servers, run wrk, parse its figures."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_split() -> tuple[set[int], set[int]] | None:
    """One core for the server under test and the others for the load generator; None on a one-core machine.

    Pinned, the server's threads share one core and nothing else runs there: whatever a background thread of the
    server costs comes out of the event loop's own time (the honest worst case), and the figures stop moving with
    where the scheduler happens to put wrk's threads (unpinned, the same server varied by up to a third from one
    round to the next on a two-core machine).
    """
    if not hasattr(os, "sched_getaffinity"):
        return None
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None
    return {available[-1]}, set(available[:-1])


def _pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)  # in the child, before exec: every thread it starts inherits it


@contextmanager
def process(
    cmd: list[str], env: dict[str, str] | None = None, ready_url: str | None = None, cpus: set[int] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: server workers die with it
        preexec_fn=_pinned(cpus),  # safe here: the benchmark scripts start no threads of their own
    )
    try:
        if ready_url:
            try:
                wait_http(ready_url)
            except RuntimeError:
                _signal_group(proc, signal.SIGKILL)
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{' '.join(cmd)} failed to start:\n{err[-3000:]}") from None
        yield proc
    finally:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process has used so far; None where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int

    def row(self, label: str, baseline: WrkResult | None = None) -> str:
        ratio = f"{self.rps / baseline.rps:6.2f}x" if baseline and baseline.rps else "      "
        return f"{label:<42} {self.rps:>10.0f} {self.p50_ms:>9.2f} {self.p99_ms:>9.2f} {self.errors:>7} {ratio}"


HEADER = f"{'endpoint':<42} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7} vs bare"


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group())  # type: ignore[union-attr]
    if value.endswith("us"):
        return number / 1000
    if value.endswith("ms"):
        return number
    if value.endswith("s"):
        return number * 1000
    return number


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is required: apt-get install -y wrk")
    return wrk


def run_wrk(
    url: str, connections: int, duration: int, threads: int = 2, lua: str | None = None, cpus: set[int] | None = None
) -> WrkResult:
    cmd = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    script_path = None
    if lua:
        fd, script_path = tempfile.mkstemp(suffix=".lua")
        os.write(fd, lua.encode())
        os.close(fd)
        cmd += ["-s", script_path]
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True, preexec_fn=_pinned(cpus)).stdout
    finally:
        if script_path:
            os.unlink(script_path)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return WrkResult(rps=rps, p50_ms=p50, p99_ms=p99, errors=errors, requests=total)
