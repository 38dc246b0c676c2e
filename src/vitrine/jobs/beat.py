"""``vitrine beat``: the one scheduler of a Celery deployment.

Several beat processes may run (for availability): a Redis lock elects the one that fires the schedule, the
others stand by and take over within ``LEADER_TTL_SECONDS`` if it dies. The unique ``(kind, scheduled_for)`` of
job records is the second guard: even two leaders could not create two jobs for one tick. Every beat also runs
the watchdog, which is safe to run concurrently.
"""

from __future__ import annotations

import contextlib
import threading

import redis
import structlog
from redis.exceptions import LockError, RedisError

from vitrine.config import Settings
from vitrine.db import make_engine, make_session_factory
from vitrine.jobs.celery_app import CeleryRunner, queue_name
from vitrine.jobs.scheduler import SchedulerLoop
from vitrine.jobs.service import attach_runner

log = structlog.get_logger(__name__)

LEADER_TTL_SECONDS = 15.0


class LeaderLock:
    """A Redis lock renewed on every call of ``held()``; ``held()`` says whether this process leads."""

    def __init__(self, redis_url: str, key: str, ttl: float = LEADER_TTL_SECONDS) -> None:
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.lock = self.client.lock(key, timeout=ttl, thread_local=False)
        self._held = False

    def held(self) -> bool:
        was_leader = self._held
        try:
            if self._held:
                self.lock.reacquire()
            else:
                self._held = bool(self.lock.acquire(blocking=False))
        except LockError:
            self._held = False
        except RedisError:
            log.warning("beat leader lock unavailable", exc_info=True)
            self._held = False
        if self._held != was_leader:
            log.info("beat leadership changed", leader=self._held)
        return self._held

    def release(self) -> None:
        if self._held:
            with contextlib.suppress(LockError, RedisError):
                self.lock.release()
            self._held = False
        self.client.close()


def leader_key(settings: Settings) -> str:
    return f"{queue_name(settings)}:beat-leader"


def run_beat(settings: Settings, stop: threading.Event) -> None:
    """Fire the schedule (when leading) and run the watchdog until ``stop`` is set."""
    if not settings.redis_url:
        raise ValueError("vitrine beat needs VITRINE_REDIS_URL (and VITRINE_JOBS__BACKEND=celery)")
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=2)
    factory = make_session_factory(engine)
    runner = CeleryRunner(settings)
    attach_runner(factory, runner)
    lock = LeaderLock(settings.redis_url, leader_key(settings))
    loop = SchedulerLoop(factory, settings, runner.submit, is_leader=lock.held)
    entries = [entry.name for entry in loop.schedule.entries] if loop.schedule else []
    log.info("beat started", queue=queue_name(settings), schedule=entries)
    loop.start()
    try:
        stop.wait()
    finally:
        loop.stop()
        lock.release()
        runner.stop()
        engine.dispose()
        log.info("beat stopped")
