"""The catalogue extension: the edge cache in front of routing (see :mod:`vitrine.catalog.edge`)."""

from __future__ import annotations

from fastapi import FastAPI

from vitrine.catalog.edge import CatalogEdgeCache


def install(app: FastAPI) -> None:
    # Installed before the observability middleware, so it sits inside it: edge answers are timed, counted and
    # logged like any other.
    app.add_middleware(CatalogEdgeCache)
