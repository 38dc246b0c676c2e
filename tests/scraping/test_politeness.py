"""robots.txt rules, Retry-After, backoff, and the per-host rate limiter."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import pytest

from vitrine.scraping.politeness import RateLimiter, RobotsRules, backoff_delay, retry_after_seconds

UA = "Vitrine/0.1 (+https://example.invalid; polite crawler)"


def test_group_naming_us_wins_over_star() -> None:
    rules = RobotsRules.parse("User-agent: *\nDisallow: /\n\nUser-agent: vitrine\nDisallow: /private/\n", UA)
    assert rules.allowed("http://h/catalogue/page-2.html")
    assert not rules.allowed("http://h/private/x.html")


def test_star_group_applies_when_we_are_not_named() -> None:
    rules = RobotsRules.parse("User-agent: otherbot\nDisallow: /\n\nUser-agent: *\nDisallow: /catalogue/x_1/\n", UA)
    assert not rules.allowed("http://h/catalogue/x_1/index.html")
    assert rules.allowed("http://h/catalogue/x_2/index.html")


def test_longest_match_wins_and_allow_wins_ties() -> None:
    text = "User-agent: *\nDisallow: /catalogue/\nAllow: /catalogue/page-\nDisallow: /a\nAllow: /a\n"
    rules = RobotsRules.parse(text, UA)
    assert rules.allowed("http://h/catalogue/page-3.html")
    assert not rules.allowed("http://h/catalogue/book_1/index.html")
    assert rules.allowed("http://h/a")


def test_wildcards_and_end_anchor() -> None:
    rules = RobotsRules.parse("User-agent: *\nDisallow: /*.json$\nDisallow: /*/secret\n", UA)
    assert not rules.allowed("http://h/data/books.json")
    assert rules.allowed("http://h/data/books.json.html")
    assert not rules.allowed("http://h/x/secret/y")


def test_empty_disallow_comments_and_robots_itself() -> None:
    rules = RobotsRules.parse("# hello\nUser-agent: *\nDisallow:   # nothing\n", UA)
    assert rules.allowed("http://h/anything")
    assert RobotsRules.parse("User-agent: *\nDisallow: /\n", UA).allowed("http://h/robots.txt")
    assert not RobotsRules.deny_everything().allowed("http://h/")
    assert RobotsRules.allow_everything().allowed("http://h/")


def test_crawl_delay_is_read() -> None:
    rules = RobotsRules.parse("User-agent: *\nCrawl-delay: 2.5\nDisallow: /x\n", UA)
    assert rules.crawl_delay == 2.5


def test_retry_after_seconds_and_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("Thu, 01 Jan 2026 12:00:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, 0.5, 4.0, rng) for attempt in range(10)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(backoff_delay(0, 0.5, 4.0, rng) for _ in range(50)) <= 0.5


def test_rate_limiter_spaces_requests() -> None:
    async def five_requests() -> float:
        limiter = RateLimiter(rate=50)  # 20 ms apart
        started = time.monotonic()
        await asyncio.gather(*(limiter.wait() for _ in range(5)))
        return time.monotonic() - started

    assert asyncio.run(five_requests()) >= 0.079


def test_uncapped_limiter_does_not_wait_but_honours_defer() -> None:
    async def run() -> tuple[float, float]:
        limiter = RateLimiter(rate=0)
        started = time.monotonic()
        await asyncio.gather(*(limiter.wait() for _ in range(100)))
        free = time.monotonic() - started
        limiter.defer(0.05)
        started = time.monotonic()
        await limiter.wait()
        return free, time.monotonic() - started

    free, deferred = asyncio.run(run())
    assert free < 0.05
    assert deferred == pytest.approx(0.05, abs=0.04)
