"""Wire the job runner into the API process (listed in ``vitrine.main.EXTENSIONS``).

In-process back end: a bounded thread pool runs the jobs and a scheduler thread fires the schedule, recovers jobs
whose worker died and picks up queued jobs no runner holds. Celery back end: the API only sends jobs; the
schedule and the watchdog live in ``vitrine beat`` (and the workers).
"""

from __future__ import annotations

from fastapi import FastAPI

from vitrine.jobs.runner import ThreadPoolRunner, build_runner
from vitrine.jobs.scheduler import SchedulerLoop
from vitrine.jobs.service import attach_runner


def install(app: FastAPI) -> None:
    settings = app.state.settings
    factory = app.state.session_factory
    runner = build_runner(settings, factory)
    attach_runner(factory, runner)
    app.state.job_runner = runner
    scheduler: SchedulerLoop | None = None
    if isinstance(runner, ThreadPoolRunner):
        scheduler = SchedulerLoop(factory, settings, runner.submit, sweep_orphans=runner.inflight)
    app.state.job_scheduler = scheduler

    def start(_app: FastAPI) -> None:
        runner.start()
        if scheduler is not None:
            scheduler.start()

    def stop(_app: FastAPI) -> None:
        if scheduler is not None:
            scheduler.stop()
        runner.stop()

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
