"""Job and scraping-trigger routes on the suite's transaction (a triggered job runs inline after the commit)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.models.audit_event import AuditEvent
from vitrine.models.job_run import JobRun
from vitrine.models.scrape_run import ScrapeRun
from vitrine.models.user import User

Account = Callable[..., tuple[User, dict[str, str]]]


def add_job(session: Session, **fields: Any) -> JobRun:
    values: dict[str, Any] = {"kind": "jobs.probe", "status": "queued", "params": {}}
    values.update(fields)
    job = JobRun(**values)
    session.add(job)
    session.commit()
    return job


def test_trigger_runs_a_crawl_and_status_shows_it(
    client: TestClient, session: Session, make_account: Account, books_site: Any
) -> None:
    admin, headers = make_account("admin")
    payload = {"base_url": books_site.url, "concurrency": 4}
    response = client.post("/api/v1/scraping/trigger", json=payload, headers=headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["status_url"] == f"/api/v1/jobs/{body['job_id']}"
    assert response.headers["location"] == body["status_url"]

    job = client.get(body["status_url"], headers=headers).json()
    assert job["status"] == "succeeded", job
    assert job["kind"] == "scraping.crawl_books"
    assert job["params"] == {"base_url": books_site.url, "concurrency": 4}
    assert job["requested_by"] == admin.id
    assert job["result"]["books_added"] == 30
    assert job["progress_done"] > 0 and job["progress_done"] == job["progress_total"]
    assert client.get(f"/api/v1/scraping/status/{body['job_id']}", headers=headers).json() == job
    run = session.scalars(select(ScrapeRun).where(ScrapeRun.job_id == body["job_id"])).one()
    assert run.status == "succeeded"
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.scraping.triggered")).one()
    assert (event.actor_id, event.target) == (admin.id, f"job:{body['job_id']}")


def test_second_trigger_while_a_crawl_is_active_is_409(
    client: TestClient, session: Session, make_account: Account
) -> None:
    _, headers = make_account("admin")
    active = add_job(session, kind="scraping.crawl_books", status="running", dedupe_key="scraping.crawl_books")
    response = client.post("/api/v1/scraping/trigger", headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    assert response.json()["detail"]["job_id"] == active.id
    assert response.json()["detail"]["status_url"] == f"/api/v1/jobs/{active.id}"
    assert session.scalar(select(func.count()).select_from(JobRun)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"base_url": "ftp://books.local/"},
        {"base_url": "javascript:alert(1)"},
        {"base_url": "not a url"},
        {"concurrency": 0},
        {"concurrency": 1000},
        {"base_url": 5},
    ],
)
def test_trigger_validates_its_body(client: TestClient, make_account: Account, body: dict[str, Any]) -> None:
    _, headers = make_account("admin")
    response = client.post("/api/v1/scraping/trigger", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"


def test_trigger_needs_an_admin(client: TestClient, make_account: Account) -> None:
    _, headers = make_account("user")
    assert client.post("/api/v1/scraping/trigger").status_code == 401
    assert client.post("/api/v1/scraping/trigger", headers=headers).status_code == 403


def test_a_job_is_visible_to_its_requester_and_admins_only(
    client: TestClient, session: Session, make_account: Account
) -> None:
    owner, owner_headers = make_account("user")
    _, other_headers = make_account("user")
    _, admin_headers = make_account("admin")
    job = add_job(session, requested_by=owner.id)
    url = f"/api/v1/jobs/{job.id}"
    assert client.get(url, headers=owner_headers).status_code == 200
    assert client.get(url, headers=admin_headers).status_code == 200
    hidden = client.get(url, headers=other_headers)
    assert hidden.status_code == 404  # same answer as for a job that does not exist
    assert client.get("/api/v1/jobs/does-not-exist", headers=other_headers).json() == hidden.json()
    assert client.get(f"/api/v1/scraping/status/{job.id}", headers=other_headers).status_code == 404
    assert client.post(f"{url}/cancel", headers=other_headers).status_code == 404
    assert client.get(url).status_code == 401


def test_list_jobs_is_admin_only_paginated_and_filtered(
    client: TestClient, session: Session, make_account: Account
) -> None:
    _, user_headers = make_account("user")
    _, headers = make_account("admin")
    for _ in range(3):
        add_job(session, kind="jobs.probe", status="succeeded")
    add_job(session, kind="jobs.cleanup", status="failed")
    assert client.get("/api/v1/jobs", headers=user_headers).status_code == 403
    page = client.get("/api/v1/jobs", params={"size": 2}, headers=headers).json()
    assert (page["total"], page["pages"], len(page["items"])) == (4, 2, 2)
    probes = client.get("/api/v1/jobs", params={"kind": "jobs.probe", "status": "succeeded"}, headers=headers).json()
    assert probes["total"] == 3
    assert {item["kind"] for item in probes["items"]} == {"jobs.probe"}
    failed = client.get("/api/v1/jobs", params={"status": "failed"}, headers=headers).json()
    assert [item["kind"] for item in failed["items"]] == ["jobs.cleanup"]
    assert client.get("/api/v1/jobs", params={"status": "bogus"}, headers=headers).status_code == 422


def test_cancel(client: TestClient, session: Session, make_account: Account) -> None:
    owner, headers = make_account("user")
    queued = add_job(session, requested_by=owner.id, dedupe_key="k1")
    running = add_job(session, requested_by=owner.id, status="running", attempt=1)
    done = add_job(session, requested_by=owner.id, status="succeeded")

    cancelled = client.post(f"/api/v1/jobs/{queued.id}/cancel", headers=headers).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    session.expire_all()
    assert queued.dedupe_key is None

    asked = client.post(f"/api/v1/jobs/{running.id}/cancel", headers=headers).json()
    assert (asked["status"], asked["cancel_requested"]) == ("running", True)

    refused = client.post(f"/api/v1/jobs/{done.id}/cancel", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["detail"]["status"] == "succeeded"
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "jobs.cancelled")).all()
    assert sorted(e.target or "" for e in events) == sorted([f"job:{queued.id}", f"job:{running.id}"])
    assert {e.actor_id for e in events} == {owner.id}
