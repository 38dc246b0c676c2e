"""``vitrine users ...``: create accounts (the first admin) and list them."""

from __future__ import annotations

import sys

import typer

from vitrine.auth import repository, service
from vitrine.auth.passwords import passwords_for
from vitrine.config import get_settings
from vitrine.db import make_engine, make_session_factory, session_scope
from vitrine.errors import AppError
from vitrine.models.user import Role

users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


def _read_password(password: str | None) -> str:
    if password is not None:
        return password
    if not sys.stdin.isatty():  # piped: `printf '%s' "$PW" | vitrine users create ...`
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


def _error_text(exc: AppError) -> str:
    if isinstance(exc.detail, list):
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in exc.detail)
    return str(exc.detail)


@users_app.command("create")
def create(
    username: str = typer.Option(..., help="Login name (case-insensitive)"),
    email: str = typer.Option("", help="Email address (default: <username>@localhost)"),
    role: Role = typer.Option(Role.user, help="admin or user"),
    password: str | None = typer.Option(
        None, help="Password; prefer the prompt or stdin, command lines end up in shell history"
    ),
) -> None:
    """Create an account, e.g. the first admin: vitrine users create --username alice --role admin."""
    settings = get_settings()
    secret = _read_password(password)
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        with session_scope(make_session_factory(engine)) as session:
            user = service.create_user(
                session,
                settings,
                passwords_for(settings),
                username=username,
                email=email.strip() or f"{username.strip().lower()}@localhost",
                password=secret,
                role=role,
                source="cli",
            )
            typer.echo(f"created {user.role} {user.username!r} (id {user.id})")
    except AppError as exc:
        typer.echo(f"error: {_error_text(exc)}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@users_app.command("list")
def list_users() -> None:
    """List accounts (id, username, role, active)."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        with session_scope(make_session_factory(engine)) as session:
            for user in repository.all_users(session):
                state = "active" if user.is_active else "inactive"
                typer.echo(f"{user.id}\t{user.username}\t{user.role}\t{state}\t{user.email}")
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
