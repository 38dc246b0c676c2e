"""Brute-force protection for logins (and current-password checks): per username and per client address; and a cap
on self-registrations per client address (mass account creation)."""

from __future__ import annotations

import time

from vitrine.config import Settings
from vitrine.kit.ratelimit import AttemptLimiter, Clock, LockoutPolicy, build_limiter

REDIS_PREFIX = "vitrine:auth:login:"


class LoginGuard:
    """Locks a username after ``login_max_failures`` failures in ``login_window_seconds``, and a client address
    after ``login_ip_max_failures`` (default: four times as many, since one address may serve many people)."""

    def __init__(self, by_username: AttemptLimiter, by_address: AttemptLimiter, signups: AttemptLimiter) -> None:
        self.by_username = by_username
        self.by_address = by_address
        self.signups = signups  # every self-registration attempt counts; the cap locks the address for a window

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = time.time, prefix: str = REDIS_PREFIX) -> LoginGuard:
        auth = settings.auth
        window, lockout = float(auth.login_window_seconds), float(auth.login_lockout_seconds)
        user_policy = LockoutPolicy(auth.login_max_failures, window, lockout)
        ip_policy = LockoutPolicy(auth.login_ip_max_failures, window, lockout)
        signup_window = float(auth.signup_window_seconds)
        signup_policy = LockoutPolicy(auth.signup_max_per_address, signup_window, signup_window)
        return cls(
            build_limiter(user_policy, redis_url=settings.redis_url, prefix=f"{prefix}user:", clock=clock),
            build_limiter(ip_policy, redis_url=settings.redis_url, prefix=f"{prefix}addr:", clock=clock),
            build_limiter(signup_policy, redis_url=settings.redis_url, prefix=f"{prefix}signup:", clock=clock),
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

    def signup_attempt(self, address: str | None) -> float:
        """Seconds to wait before ``address`` may register again (0: go ahead; the attempt is then counted)."""
        if not address:
            return 0.0
        wait = self.signups.retry_after(address)
        if wait <= 0:
            self.signups.record_failure(address)
        return wait

    def close(self) -> None:
        self.by_username.close()
        self.by_address.close()
        self.signups.close()
