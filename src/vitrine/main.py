"""Application factory."""

from __future__ import annotations

import gc
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from vitrine import __version__
from vitrine.config import Settings, get_settings
from vitrine.db import SessionFactory, make_engine, make_session_factory
from vitrine.errors import install_error_handlers

Hook = Callable[[FastAPI], Any]


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def _freeze_startup_heap() -> None:
    """Keep the objects that live as long as the process out of the cyclic garbage collector's full passes.

    After start-up the heap holds a quarter of a million long-lived objects (modules, the app, SQLAlchemy and
    pydantic metadata). Each full collection walked all of them: ~100 ms with the event loop stopped, the whole
    p99 latency budget of a request (bench/api.py). Frozen, they are skipped; new garbage is still collected.
    """
    gc.collect()
    gc.freeze()


def create_app(settings: Settings | None = None, *, session_factory: SessionFactory | None = None) -> FastAPI:
    """Build the API. Tests pass their own settings and a session factory bound to their transaction."""
    settings = settings or get_settings()
    owns_engine = session_factory is None
    if session_factory is None:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.db.pool_size,
            max_overflow=settings.db.max_overflow,
            echo=settings.db.echo,
        )
        session_factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            result = hook(app)
            if hasattr(result, "__await__"):
                await result
        if owns_engine:
            _freeze_startup_heap()
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                result = hook(app)
                if hasattr(result, "__await__"):
                    await result
            if owns_engine:
                bind = session_factory.kw.get("bind")
                if bind is not None:
                    bind.dispose()

    app = FastAPI(
        title="Vitrine",
        version=__version__,
        description="Commerce-data hub: the books catalogue, FakeStore products, jobs, monitoring and ML models.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    install_error_handlers(app)
    _include_routers(app)
    if settings.cors_origins:  # outermost, so preflight requests are answered before anything else
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Vitrine-Source", "Age", "ETag", "Retry-After", "Location"],
        )
    return app


# Routers, in inclusion order: (module, attribute, prefix). A domain adds its router here; modules that are
# not built yet are skipped so the app always starts.
ROUTERS: tuple[tuple[str, str], ...] = (
    ("vitrine.health", "/api/v1"),
    ("vitrine.catalog.router", "/api/v1"),
    ("vitrine.auth.router", "/api/v1"),
    ("vitrine.auth.admin_router", "/api/v1"),
    ("vitrine.jobs.router", "/api/v1"),
    ("vitrine.scraping.router", "/api/v1"),
    ("vitrine.observability.router", ""),
    ("vitrine.ml.router", "/api/v1"),
    ("vitrine.fakestore.router", "/api/v1"),
    ("vitrine.web.router", ""),
)

# App extensions: modules exposing ``install(app: FastAPI) -> None`` (middleware, lifespan hooks, state).
EXTENSIONS: tuple[str, ...] = (
    "vitrine.catalog.install",  # first: its middleware must sit inside the observability middleware
    "vitrine.auth.install",
    "vitrine.observability.install",
    "vitrine.jobs.install",
    "vitrine.ml.install",
    "vitrine.fakestore.install",
)


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            return None
        raise


def _include_routers(app: FastAPI) -> None:
    for module_name in EXTENSIONS:
        module = _optional_module(module_name)
        if module is not None:
            module.install(app)
    for module_name, prefix in ROUTERS:
        module = _optional_module(module_name)
        if module is not None:
            app.include_router(module.router, prefix=prefix)
