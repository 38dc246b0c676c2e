"""What a crawl reports: progress while it runs, counters and status when it ends."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunStatus(StrEnum):
    running = "running"
    succeeded = "succeeded"  # the whole site was walked; single broken pages are listed in the run's errors
    failed = "failed"  # nothing could be crawled: start page unreachable/unparseable, or robots.txt forbids it
    cancelled = "cancelled"  # stopped on request; what was stored stays, a re-run resumes cheaply


class CrawlCounters(BaseModel):
    pages_fetched: int = 0  # 2xx responses (downloaded bodies)
    pages_not_modified: int = 0  # 304 answers to conditional requests
    pages_failed: int = 0  # pages that gave nothing usable (fetch error after retries, or parse error)
    pages_skipped: int = 0  # pages robots.txt does not allow
    books_added: int = 0
    books_updated: int = 0
    books_unchanged: int = 0
    changes_recorded: int = 0  # price/availability history rows written
    errors: int = 0
    retries: int = 0

    @property
    def pages_done(self) -> int:
        return self.pages_fetched + self.pages_not_modified + self.pages_failed


class CrawlProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    pages_done: int
    pages_total: int  # best estimate so far (pages discovered, or announced by the site's pager and counts)
    books: int  # books seen so far (parsed, or confirmed unchanged by a 304)
    errors: int
    message: str = ""


class CrawlResult(BaseModel):
    run_id: int
    status: RunStatus
    counters: CrawlCounters
    error: str | None = None  # why the run failed, when it did
    error_samples: list[dict[str, Any]] = []  # the first few page errors (all of them are on the run record)
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.succeeded
