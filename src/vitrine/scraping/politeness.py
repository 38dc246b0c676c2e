"""Politeness: robots.txt rules (RFC 9309), a per-host request rate, backoff with jitter, Retry-After."""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    path: str
    pattern: re.Pattern[str]


def _compile(path: str) -> re.Pattern[str]:
    """A robots.txt path pattern: ``*`` matches any run of characters, a trailing ``$`` anchors the end."""
    anchored = path.endswith("$")
    body = path[:-1] if anchored else path
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    return re.compile(regex + ("$" if anchored else ""))


@dataclass(slots=True)
class RobotsRules:
    """The rules of one robots.txt group that apply to our user agent.

    RFC 9309 semantics: the group naming our product token wins over ``*``; the longest matching path wins and
    ``allow`` wins a tie; no matching rule means allowed. ``/robots.txt`` itself is always allowed.
    """

    rules: list[_Rule] = field(default_factory=list)
    crawl_delay: float | None = None
    disallow_all: bool = False

    @classmethod
    def allow_everything(cls) -> RobotsRules:
        return cls()

    @classmethod
    def deny_everything(cls) -> RobotsRules:
        return cls(disallow_all=True)

    @classmethod
    def parse(cls, text: str, user_agent: str) -> RobotsRules:
        token = user_agent.split("/", 1)[0].strip().lower()
        groups: list[tuple[list[str], list[tuple[str, str]]]] = []
        agents: list[str] = []
        lines: list[tuple[str, str]] = []
        in_rules = False
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if ":" not in line:
                continue
            key, value = (part.strip() for part in line.split(":", 1))
            key = key.lower()
            if key == "user-agent":
                if in_rules:
                    groups.append((agents, lines))
                    agents, lines, in_rules = [], [], False
                agents.append(value.lower())
            elif key in {"allow", "disallow", "crawl-delay"} and agents:
                in_rules = True
                lines.append((key, value))
        if agents:
            groups.append((agents, lines))
        mine = [rules for names, rules in groups if any(name.split("/", 1)[0] == token for name in names)]
        chosen = mine or [rules for names, rules in groups if "*" in names]
        result = cls()
        for group in chosen:
            for key, value in group:
                if key == "crawl-delay":
                    try:
                        result.crawl_delay = max(result.crawl_delay or 0.0, float(value))
                    except ValueError:
                        continue
                elif value:  # an empty Disallow allows everything
                    result.rules.append(_Rule(allow=key == "allow", path=value, pattern=_compile(value)))
        return result

    def allowed(self, url: str) -> bool:
        if self.disallow_all:
            return False
        if not self.rules:
            return True
        parts = urlsplit(url)
        path = unquote(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if path == "/robots.txt":
            return True
        best: _Rule | None = None
        best_length = -1
        for rule in self.rules:
            if rule.pattern.match(path):
                length = len(rule.path)
                if length > best_length or (length == best_length and rule.allow):
                    best, best_length = rule, length
        return best is None or best.allow


class RateLimiter:
    """Spaces requests to one host at least ``1 / rate`` seconds apart (``rate <= 0``: no cap).

    Each caller reserves the next free slot, so concurrent callers queue in order without a lock (all of them
    run on one event loop). ``defer`` holds every caller until a time the server asked for (Retry-After).
    """

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    def slow_down(self, min_interval: float) -> None:
        self.interval = max(self.interval, min_interval)

    def defer(self, seconds: float) -> None:
        self._next = max(self._next, time.monotonic() + seconds)

    async def wait(self) -> None:
        now = time.monotonic()
        if self.interval <= 0 and self._next <= now:
            return
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * (2**attempt))
    return (rng or random).uniform(0, ceiling)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A Retry-After header (delta-seconds or an HTTP date) as seconds from now, or None when absent/invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
