"""The request id of the work in progress, readable from any code the request (or a job it started) runs.

``request_id_var`` is set by the observability middleware for every HTTP request; the jobs runner copies it onto
the job record and sets it again while the job runs, so log lines of a job carry the request that asked for it.
Every structlog line picks it up through :func:`vitrine.observability.logging.add_request_id`.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from random import getrandbits

request_id_var: ContextVar[str | None] = ContextVar("vitrine_request_id", default=None)

MAX_REQUEST_ID_LENGTH = 64
# Safe to echo in a header and a log line: letters, digits and a few separators, nothing that could split a line.
_VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")


def new_request_id() -> str:
    """A fresh random id: 24 hex characters (96 bits). An identifier, not a secret: no system call needed."""
    return f"{getrandbits(96):024x}"


def accept_request_id(raw: bytes | None) -> str | None:
    """The caller's ``X-Request-ID`` if it is short and made of safe characters, else ``None``."""
    if raw is None or len(raw) > MAX_REQUEST_ID_LENGTH or _VALID_REQUEST_ID.fullmatch(raw) is None:
        return None
    return raw.decode("ascii")


def current_request_id() -> str | None:
    return request_id_var.get()
