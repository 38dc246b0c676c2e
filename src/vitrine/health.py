"""Liveness check."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import text

from vitrine import __version__
from vitrine.deps import SessionFactoryDep
from vitrine.errors import ServiceUnavailable, error_responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str


def _ping(factory: SessionFactoryDep) -> bool:
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get("/health", response_model=Health, responses=error_responses(503))
async def health(factory: SessionFactoryDep) -> Health:
    """Cheap liveness check: 200 when the database answers, 503 otherwise. No authentication."""
    if not await run_in_threadpool(_ping, factory):
        raise ServiceUnavailable("database unreachable")
    return Health(status="ok", version=__version__, database="ok")
