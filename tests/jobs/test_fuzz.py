"""Property-based fuzzing of the jobs and scraping operations as an admin: no 500s, answers match the schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy.orm import Session

from vitrine.models.job_run import JobRun
from vitrine.models.user import User


def test_jobs_operations_never_fail_with_a_server_error(
    app: FastAPI, session: Session, make_account: Callable[..., tuple[User, dict[str, str]]]
) -> None:
    admin, headers = make_account("admin")
    # An active crawl: every valid trigger answers 409, so the fuzzer never starts a crawl of a random host.
    active = JobRun(kind="scraping.crawl_books", status="running", dedupe_key="scraping.crawl_books", params={})
    session.add_all([active, JobRun(kind="jobs.probe", status="succeeded", params={}, requested_by=admin.id)])
    session.commit()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not set(operation.tags or []) & {"jobs", "scraping"}:
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.text}"
            if response.status_code < 300:
                case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        check()
        checked += 1
    assert checked == 5
    session.refresh(active)
    assert active.status == "running"
