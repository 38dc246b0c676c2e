"""Data management for admins: destructive operations (each needs ``?confirm=true``) and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from vitrine.auth import audit, service
from vitrine.auth.deps import AdminUser
from vitrine.auth.schemas import AuditPage, DeletedCount
from vitrine.catalog import service as catalog
from vitrine.deps import SessionDep
from vitrine.errors import BadRequest, error_responses
from vitrine.kit.pagination import PageDep

router = APIRouter(prefix="/admin", tags=["admin"])

Confirm = Annotated[bool, Query(description="Must be true: this cannot be undone")]


def require_confirmation(confirm: bool, what: str) -> None:
    if not confirm:
        raise BadRequest(f"This deletes {what} and cannot be undone; repeat the request with ?confirm=true")


@router.delete(
    "/books",
    response_model=DeletedCount,
    responses=error_responses(400, 401, 403, 422),
    summary="Delete every book and its change history (admin)",
)
def delete_books(request: Request, session: SessionDep, admin: AdminUser, confirm: Confirm = False) -> DeletedCount:
    require_confirmation(confirm, "every book and its history")
    deleted = catalog.delete_all_books(session)
    audit.record(
        session,
        action="admin.books.deleted",
        actor_id=admin.id,
        target="books",
        detail={"deleted": deleted},
        **audit.request_meta(request),
    )
    # Commit before dropping cached pages, so no reader can re-cache the old catalogue in between.
    session.commit()
    cache = getattr(request.app.state, "catalog_cache", None)
    if cache is not None:
        cache.invalidate()
    return DeletedCount(deleted=deleted)


@router.get("/audit", response_model=AuditPage, responses=error_responses(401, 403, 422), summary="Audit log (admin)")
def audit_log(
    session: SessionDep,
    _admin: AdminUser,
    page: PageDep,
    user_id: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="Actor's user id")] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.:*-]+$",
            description="Exact action, or a prefix ending in '*' (auth.*)",
        ),
    ] = None,
) -> AuditPage:
    return service.list_audit(session, page, actor_id=user_id, action=action)
