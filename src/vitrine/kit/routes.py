"""The route template of a request (``/api/v1/books/{book_id}``), for metrics and logs."""

from __future__ import annotations

from starlette.types import Scope

UNMATCHED_ROUTE = "<unmatched>"
# Set by code that answers a request before routing (the catalogue's edge cache) to name the route it answered for.
ROUTE_SCOPE_KEY = "vitrine.route"


def route_template(scope: Scope) -> str:
    """The matched route's path template with its router prefixes (``/api/v1/books/{book_id}``).

    Never the raw path: that would put ids in labels and explode the number of series. FastAPI keeps the
    effective route (prefixes included) in its scope entry; plain Starlette routes carry their full template.
    """
    answered = scope.get(ROUTE_SCOPE_KEY)
    if answered is not None:
        return str(answered)
    fastapi_scope = scope.get("fastapi")
    if fastapi_scope is not None:
        context = fastapi_scope.get("effective_route_context")
        if context is not None:
            template = getattr(context, "path_format", None)
            if template:
                return str(template)
    route = scope.get("route")
    if route is None:
        return UNMATCHED_ROUTE
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED_ROUTE
