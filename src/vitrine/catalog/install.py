"""The catalogue extension: its response cache answers repeated reads before routing (:mod:`vitrine.kit.edge`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from vitrine.kit.edge import Responder, add_responder


def _responder(state: Any) -> Responder | None:
    cache: Responder | None = getattr(state, "catalog_cache", None)
    return cache


def install(app: FastAPI) -> None:
    # Installed before the observability extension, so the edge middleware sits inside its middleware.
    add_responder(app, _responder)
