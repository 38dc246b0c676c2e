"""Structured logs: structlog for our code, the standard library (uvicorn, SQLAlchemy, Celery...) routed through
the same formatter, JSON lines in production and a readable console in development.

Every line carries the request id of the request (or job) that produced it, and goes through :func:`redact`,
which masks the values of sensitive keys and token-shaped text, so a secret that reaches a log call anyway is
not written out.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from vitrine.config import Settings
from vitrine.observability.context import request_id_var

REDACTED = "[redacted]"
# A key is sensitive when its lower-cased name contains one of these.
SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "private_key",
    "credential",
    "code_verifier",
)
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization header values.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    # JSON Web Tokens anywhere in a text.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # key=value in query strings and messages.
    (
        re.compile(
            r"(?i)\b([a-z_]*(?:token|secret|password|passwd|api_key|apikey|code_verifier)[a-z_]*)=([^&\s\"',;]+)"
        ),
        r"\1=" + REDACTED,
    ),
    # "key": "value" in JSON-like text.
    (
        re.compile(r"(?i)(\"[^\"]*(?:token|secret|password|passwd|authorization|cookie)[^\"]*\"\s*:\s*)\"[^\"]*\""),
        r'\1"' + REDACTED + '"',
    ),
    # Credentials in URLs: scheme://user:password@host.
    (re.compile(r"(://[^/\s:@]*):[^/\s@]+@"), r"\1:" + REDACTED + "@"),
)
_MAX_DEPTH = 6
_HANDLER_MARK = "_vitrine_handler"
_QUIET_LOGGERS = {"httpx": logging.WARNING, "httpcore": logging.WARNING}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    lowered = key.lower()
    return any(part in lowered for part in SENSITIVE_KEY_PARTS)


def redact_text(text: str) -> str:
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED if is_sensitive_key(key) else _redact_value(item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(item, depth + 1) for item in value)
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: mask sensitive keys (at any depth) and token-shaped text in every value."""
    for key, value in list(event_dict.items()):
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | dict | list | tuple):
            event_dict[key] = _redact_value(value, 0)
    return event_dict


def add_request_id(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: the current request id (see ``vitrine.observability.context``), unless the call gave one."""
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our root handler (marked, so reconfiguring replaces it and leaves other handlers alone). The stream is the
    one given, else ``sys.stderr`` as it is when logging is configured: a later swap of ``sys.stderr`` (a CLI test
    runner capturing output) does not receive log lines."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream or sys.stderr)
        setattr(self, _HANDLER_MARK, True)


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library through one formatter. Idempotent (the app factory calls it)."""
    level_name = settings.observability.log_level.upper()
    level = logging.getLevelNamesMapping().get(level_name, logging.INFO)
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if settings.json_logs
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared = _shared_processors()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = _Handler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, _HANDLER_MARK, False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _UVICORN_LOGGERS:
        # uvicorn installs its own handlers when it starts; ours replace them so its lines are structured too.
        # A logger uvicorn left without handlers and without propagation is switched off (``access_log=False``:
        # the request log replaces it); it stays off, or every request would cost a log line.
        uvicorn_logger = logging.getLogger(name)
        if not uvicorn_logger.handlers and not uvicorn_logger.propagate:
            continue
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    for name, quiet_level in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(quiet_level, level))
