"""The audit log API every domain uses for its security-relevant and admin actions."""

from __future__ import annotations

from typing import Any, TypedDict

from fastapi import Request
from sqlalchemy.orm import Session

from vitrine.models.audit_event import AuditEvent

_MAX_TARGET = 200
_MAX_SHORT = 64


class RequestMeta(TypedDict):
    client_ip: str | None
    request_id: str | None


def request_meta(request: Request) -> RequestMeta:
    """Client address and request id of ``request``, to pass on as ``record(..., **request_meta(request))``."""
    request_id = getattr(request.state, "request_id", None) or request.headers.get("x-request-id")
    client_ip = request.client.host if request.client else None
    return {
        "client_ip": client_ip[:_MAX_SHORT] if client_ip else None,
        "request_id": str(request_id)[:_MAX_SHORT] if request_id else None,
    }


def record(
    session: Session,
    *,
    action: str,
    actor_id: int | None = None,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    client_ip: str | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Add one audit event to ``session`` and flush it; the caller's unit of work commits it.

    ``action`` is a dotted name such as ``auth.login.failed`` or ``admin.books.deleted``. Never put a password,
    token or hash in ``detail``.
    """
    event = AuditEvent(
        action=action[:_MAX_SHORT],
        actor_id=actor_id,
        target=target[:_MAX_TARGET] if target is not None else None,
        detail=detail,
        client_ip=client_ip[:_MAX_SHORT] if client_ip else None,
        request_id=request_id[:_MAX_SHORT] if request_id else None,
    )
    session.add(event)
    session.flush()
    return event
