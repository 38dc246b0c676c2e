"""Argon2id password hashing (pwdlib) and the password policy."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from vitrine.config import Settings
from vitrine.errors import Unprocessable

MAX_PASSWORD_LENGTH = 1024  # Argon2 copes with long input; the cap only stops absurd request bodies


# pwdlib's (and argon2-cffi's) defaults: about 0.15 s and 64 MiB per hash on a small server.
DEFAULT_TIME_COST, DEFAULT_MEMORY_KIB, DEFAULT_PARALLELISM = 3, 65536, 4


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = DEFAULT_TIME_COST
    memory_cost: int = DEFAULT_MEMORY_KIB
    parallelism: int = DEFAULT_PARALLELISM

    @classmethod
    def from_settings(cls, settings: Settings) -> Argon2Params:
        # Optional settings (``VITRINE_AUTH__ARGON2_*``); tests lower them to keep the suite fast.
        auth = settings.auth
        return cls(
            time_cost=int(getattr(auth, "argon2_time_cost", DEFAULT_TIME_COST)),
            memory_cost=int(getattr(auth, "argon2_memory_kib", DEFAULT_MEMORY_KIB)),
            parallelism=int(getattr(auth, "argon2_parallelism", DEFAULT_PARALLELISM)),
        )


class Passwords:
    """Hash and verify passwords with one set of Argon2 parameters.

    ``verify_unknown`` spends the same time as a real verification, so a login for a username that does not exist
    cannot be told apart by its timing.
    """

    def __init__(self, params: Argon2Params) -> None:
        self.params = params
        hasher = Argon2Hasher(
            time_cost=params.time_cost, memory_cost=params.memory_cost, parallelism=params.parallelism
        )
        self._hash = PasswordHash((hasher,))
        self._dummy_hash = self._hash.hash(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        return self._hash.hash(password)

    def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one used other parameters and should be replaced)."""
        try:
            return self._hash.verify_and_update(password, password_hash)
        except Exception:  # an unreadable stored hash is a failed login, not a 500
            return False, None

    def verify_unknown(self, password: str) -> None:
        self._hash.verify(password, self._dummy_hash)


@lru_cache(maxsize=8)
def _passwords(params: Argon2Params) -> Passwords:
    return Passwords(params)


def passwords_for(settings: Settings) -> Passwords:
    return _passwords(Argon2Params.from_settings(settings))


def policy_errors(password: str, *, username: str, min_length: int) -> list[str]:
    """Why ``password`` is refused (empty when it is acceptable)."""
    errors = []
    if len(password) < min_length:
        errors.append(f"Password must be at least {min_length} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        errors.append(f"Password must be at most {MAX_PASSWORD_LENGTH} characters long")
    if username and username.strip().lower() in password.lower():
        errors.append("Password must not contain the username")
    if password and not password.strip():
        errors.append("Password must not be only whitespace")
    return errors


def check_policy(password: str, *, username: str, settings: Settings, field: str = "password") -> None:
    """Raise a 422 in the same shape as payload validation errors when ``password`` breaks the policy."""
    errors = policy_errors(password, username=username, min_length=settings.auth.min_password_length)
    if errors:
        raise Unprocessable([{"loc": ["body", field], "msg": msg, "type": "password_policy"} for msg in errors])
