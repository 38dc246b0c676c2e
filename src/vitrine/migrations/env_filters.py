"""Objects the migrations create but the models do not describe (dialect-specific search structures)."""

from __future__ import annotations

from typing import Any

_UNMODELLED_PREFIXES = ("books_fts", "ix_books_fts")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (name and name.startswith(_UNMODELLED_PREFIXES))
