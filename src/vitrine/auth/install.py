"""Wire the accounts domain into the app: password hasher, login limiter, first admin on start-up."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from vitrine.auth.guard import LoginGuard
from vitrine.auth.passwords import passwords_for
from vitrine.auth.service import ensure_first_admin
from vitrine.config import Settings
from vitrine.db import session_scope
from vitrine.errors import AppError, Conflict


def _ensure_first_admin(app: FastAPI, settings: Settings) -> None:
    with session_scope(app.state.session_factory) as session:
        ensure_first_admin(session, settings, app.state.passwords)


def _create_first_admin(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    if not settings.admin_username or settings.admin_password is None:
        return
    try:
        try:
            _ensure_first_admin(app, settings)
        except (IntegrityError, Conflict):
            # `vitrine serve --workers N` starts N processes at once on a new database: another one created the
            # account between this one's check and its insert. A second look sees that account and leaves it.
            _ensure_first_admin(app, settings)
    except AppError as exc:  # e.g. a password the policy refuses: stop with a readable reason, not a traceback
        reasons = exc.detail if isinstance(exc.detail, list) else [exc.detail]
        text = "; ".join(str(r.get("msg", r)) if isinstance(r, dict) else str(r) for r in reasons)
        raise RuntimeError(f"Cannot create the first admin from VITRINE_ADMIN_USERNAME/PASSWORD: {text}") from None


def _close_guard(app: FastAPI) -> None:
    guard: LoginGuard | None = getattr(app.state, "login_guard", None)
    if guard is not None:
        guard.close()


def install(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.passwords = passwords_for(settings)
    app.state.login_guard = LoginGuard.from_settings(settings)
    app.state.startup_hooks.append(_create_first_admin)
    app.state.shutdown_hooks.append(_close_guard)
