"""Brute-force protection for logins (and current-password checks): per username and per client address."""

from __future__ import annotations

import time

from vitrine.config import Settings
from vitrine.kit.ratelimit import AttemptLimiter, Clock, LockoutPolicy, build_limiter

REDIS_PREFIX = "vitrine:auth:login:"


class LoginGuard:
    """Locks a username after ``login_max_failures`` failures in ``login_window_seconds``, and a client address
    after ``login_ip_max_failures`` (default: four times as many, since one address may serve many people)."""

    def __init__(self, by_username: AttemptLimiter, by_address: AttemptLimiter) -> None:
        self.by_username = by_username
        self.by_address = by_address

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time, prefix: str = REDIS_PREFIX) -> LoginGuard:
        auth = settings.auth
        window, lockout = float(auth.login_window_seconds), float(auth.login_lockout_seconds)
        ip_max = int(getattr(auth, "login_ip_max_failures", 4 * auth.login_max_failures))
        user_policy = LockoutPolicy(auth.login_max_failures, window, lockout)
        ip_policy = LockoutPolicy(ip_max, window, lockout)
        return cls(
            build_limiter(user_policy, redis_url=settings.redis_url, prefix=f"{prefix}user:", clock=clock),
            build_limiter(ip_policy, redis_url=settings.redis_url, prefix=f"{prefix}addr:", clock=clock),
        )

    def retry_after(self, username_key: str, address: str | None) -> float:
        wait = self.by_username.retry_after(username_key)
        if address:
            wait = max(wait, self.by_address.retry_after(address))
        return wait

    def failed(self, username_key: str, address: str | None) -> float:
        """Count a failure; returns the lockout length if it locked the username or the address."""
        locked = self.by_username.record_failure(username_key)
        if address:
            locked = max(locked, self.by_address.record_failure(address))
        return locked

    def succeeded(self, username_key: str) -> None:
        # Only the username's count is forgiven: a success must not clear an address that is guessing elsewhere.
        self.by_username.reset(username_key)

    def close(self) -> None:
        self.by_username.close()
        self.by_address.close()
