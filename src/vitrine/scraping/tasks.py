"""Job entry points of the scraping domain."""

from __future__ import annotations

from typing import Any

from vitrine.jobs.registry import JobContext, job

CRAWL_KIND = "scraping.crawl_books"


@job(CRAWL_KIND, max_attempts=2)
def crawl_books(ctx: JobContext) -> dict[str, Any]:
    """Crawl the books site into the catalogue. A re-run (or a retry) resumes cheaply: pages that did not change
    answer 304 to the crawler's conditional requests and stored books are not rewritten."""
    from vitrine.scraping.schemas import CrawlProgress, RunStatus
    from vitrine.scraping.service import run_crawl

    def report(progress: CrawlProgress) -> None:
        message = progress.message or f"{progress.pages_done} pages, {progress.books} books, {progress.errors} errors"
        ctx.progress(progress.pages_done, progress.pages_total or None, message)

    concurrency = ctx.params.get("concurrency")
    result = run_crawl(
        ctx.factory,
        ctx.settings,
        base_url=ctx.params.get("base_url"),
        concurrency=int(concurrency) if concurrency else None,
        progress=report,
        should_cancel=ctx.should_cancel,
        job_id=ctx.job_id,
    )
    counters: dict[str, Any] = {"run_id": result.run_id, "crawl_status": str(result.status)}
    counters.update(result.counters.model_dump())
    counters["duration_seconds"] = round(result.duration_seconds, 3)
    if result.status is RunStatus.failed:
        raise RuntimeError(result.error or "crawl failed")
    # A cancelled crawl returns normally: the runner records it as cancelled (it saw should_cancel() say so).
    return counters
