"""Jobs of the jobs domain itself: retention clean-up, and a probe to check a deployment's runners end to end."""

from __future__ import annotations

import importlib
import os
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from vitrine.db import session_scope
from vitrine.jobs import repository
from vitrine.jobs.registry import JobContext, job
from vitrine.kit.clock import utcnow

MAX_PROBE_STEPS = 100_000
MAX_PROBE_STEP_SECONDS = 60.0


@job("jobs.cleanup")
def cleanup(ctx: JobContext) -> dict[str, Any]:
    """Delete finished job records, request logs, audit events and sampled prediction logs older than the
    retention period, and refresh tokens past their expiry."""
    days = int(ctx.params.get("retention_days", ctx.settings.jobs.retention_days))
    cutoff = utcnow() - timedelta(days=days)
    counts: dict[str, Any] = {"retention_days": days, "cutoff": cutoff.isoformat()}
    with session_scope(ctx.factory) as session:
        counts["job_runs_deleted"] = repository.delete_finished_before(session, cutoff)
    delete_logs = _optional_attr("vitrine.observability.service", "delete_request_logs_older_than")
    if delete_logs is not None:
        with session_scope(ctx.factory) as session:
            counts["request_logs_deleted"] = int(delete_logs(session, cutoff))
    audit_event = _optional_attr("vitrine.models.audit_event", "AuditEvent")
    if audit_event is not None:
        with session_scope(ctx.factory) as session:
            result = session.execute(delete(audit_event).where(audit_event.created_at < cutoff))
            counts["audit_events_deleted"] = int(result.rowcount)  # type: ignore[attr-defined]
    delete_predictions = _optional_attr("vitrine.ml.repository", "delete_prediction_logs_before")
    if delete_predictions is not None:
        with session_scope(ctx.factory) as session:
            counts["prediction_logs_deleted"] = int(delete_predictions(session, cutoff))
    purge_tokens = _optional_attr("vitrine.auth.service", "purge_expired_refresh_tokens")
    if purge_tokens is not None:  # expired refresh tokens can no longer be used: no retention period applies
        with session_scope(ctx.factory) as session:
            counts["refresh_tokens_purged"] = int(purge_tokens(session))
    ctx.progress(1, 1, "clean-up done")
    return counts


def _optional_attr(module: str, name: str) -> Any:
    """Another domain's hook, or ``None`` when that domain is not installed."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ModuleNotFoundError:
        return None


@job("jobs.probe")
def probe(ctx: JobContext) -> dict[str, Any]:
    """Count ``steps`` steps of ``step_seconds`` each, with checkpoints, progress and cancellation; optionally fail
    the first ``fail_attempts`` attempts. Used to check that a deployment's runners work end to end."""
    steps = min(int(ctx.params.get("steps", 1)), MAX_PROBE_STEPS)
    step_seconds = min(float(ctx.params.get("step_seconds", 0.0)), MAX_PROBE_STEP_SECONDS)
    if ctx.attempt <= int(ctx.params.get("fail_attempts", 0)):
        raise RuntimeError(f"probe failing attempt {ctx.attempt} as asked")
    resumed_from = int(ctx.load_checkpoint().get("done", 0))
    done = resumed_from
    while done < steps:
        if ctx.should_cancel():
            break
        if step_seconds:
            time.sleep(step_seconds)
        done += 1
        ctx.save_checkpoint({"done": done})
        ctx.progress(done, steps, f"step {done}/{steps}")
    return {"done": done, "resumed_from": resumed_from, "pid": os.getpid()}
