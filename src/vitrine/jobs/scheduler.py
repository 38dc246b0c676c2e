"""The schedule (cron entries from settings) and the loop that fires it and runs the watchdog.

The in-process deployment runs one ``SchedulerLoop`` per API process; Celery deployments run it in ``vitrine beat``
only. Either way each tick is enqueued with ``scheduled_for=<tick>`` and ``(kind, scheduled_for)`` is unique, so two
processes that see the same tick create one job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from vitrine.config import Settings
from vitrine.db import SessionFactory, session_scope
from vitrine.errors import Conflict
from vitrine.jobs import repository, service
from vitrine.jobs.cron import Cron, parse_cron
from vitrine.jobs.watchdog import recover_lost_jobs, resubmit_orphans
from vitrine.kit.clock import utcnow

log = structlog.get_logger(__name__)

CRAWL_KIND = "scraping.crawl_books"
CRAWL_DEDUPE_KEY = "scraping.crawl_books"
CLEANUP_KIND = "jobs.cleanup"


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    kind: str
    cron: Cron
    params: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None


def schedule_entries(settings: Settings) -> list[ScheduleEntry]:
    entries = []
    if settings.jobs.crawl_schedule.strip():
        entries.append(
            ScheduleEntry("crawl", CRAWL_KIND, parse_cron(settings.jobs.crawl_schedule), dedupe_key=CRAWL_DEDUPE_KEY)
        )
    if settings.jobs.cleanup_schedule.strip():
        entries.append(ScheduleEntry("cleanup", CLEANUP_KIND, parse_cron(settings.jobs.cleanup_schedule)))
    if settings.fakestore.sync_schedule.strip():
        entries.append(
            ScheduleEntry(
                "fakestore-sync",
                "fakestore.sync",
                parse_cron(settings.fakestore.sync_schedule),
                dedupe_key="fakestore.sync",
            )
        )
    return entries


def fire(factory: SessionFactory, entry: ScheduleEntry, tick: datetime) -> str | None:
    """Enqueue ``entry`` for ``tick`` unless a job for that tick (or an active one with its key) exists."""
    try:
        with session_scope(factory) as session:
            if repository.find_scheduled(session, entry.kind, tick) is not None:
                return None
            job = service.enqueue(session, entry.kind, entry.params, dedupe_key=entry.dedupe_key, scheduled_for=tick)
            job_id = job.id
    except Conflict:
        log.info("scheduled job skipped: one is already active", schedule=entry.name, tick=tick.isoformat())
        return None
    except IntegrityError:  # another scheduler enqueued this tick between our check and our insert
        return None
    log.info("scheduled job enqueued", schedule=entry.name, job_id=job_id, tick=tick.isoformat())
    return job_id


class Schedule:
    """Remembers the next tick of each entry; ``due(now)`` fires what came due (missed ticks are not replayed)."""

    def __init__(self, entries: list[ScheduleEntry], start: datetime | None = None) -> None:
        start = start or utcnow()
        self.entries = entries
        self._next = {entry.name: entry.cron.next_after(start) for entry in entries}

    def due(self, now: datetime) -> list[tuple[ScheduleEntry, datetime]]:
        fired = []
        for entry in self.entries:
            tick = self._next[entry.name]
            if tick <= now:
                latest = tick
                while (following := entry.cron.next_after(latest)) <= now:
                    latest = following
                fired.append((entry, latest))
                self._next[entry.name] = entry.cron.next_after(latest)
        return fired


class SchedulerLoop:
    """A daemon thread: fires the schedule, recovers jobs whose worker died, and (in-process) re-dispatches
    queued jobs nobody holds."""

    def __init__(
        self,
        factory: SessionFactory,
        settings: Settings,
        dispatch: Callable[[str], None],
        *,
        schedule: bool = True,
        sweep_orphans: Callable[[], set[str]] | None = None,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.dispatch = dispatch
        self.schedule = Schedule(schedule_entries(settings)) if schedule else None
        self._sweep_orphans = sweep_orphans
        self._is_leader = is_leader or (lambda: True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tick_seconds = min(1.0, max(settings.jobs.heartbeat_seconds, 0.05))

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, daemon=True, name="vitrine-scheduler")
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run_once(self, now: datetime | None = None) -> None:
        """One iteration: fire due ticks, then the maintenance work (also what the loop does)."""
        self._fire_due(now or utcnow())
        self.maintain()

    def maintain(self) -> None:
        recover_lost_jobs(self.factory, self.settings, self.dispatch)
        if self._sweep_orphans is not None:
            resubmit_orphans(self.factory, self.settings, self.dispatch, skip=self._sweep_orphans())

    def _fire_due(self, now: datetime) -> None:
        if self.schedule is not None and self._is_leader():
            for entry, tick in self.schedule.due(now):
                fire(self.factory, entry, tick)

    def _run(self) -> None:
        maintain_every = max(self.settings.jobs.heartbeat_seconds, self.tick_seconds)
        next_maintenance = time.monotonic()
        while not self._stop.is_set():
            try:
                self._fire_due(utcnow())
                if time.monotonic() >= next_maintenance:
                    next_maintenance = time.monotonic() + maintain_every
                    self.maintain()
            except Exception:  # keep scheduling through a database hiccup
                log.exception("scheduler iteration failed")
            self._stop.wait(self.tick_seconds)
