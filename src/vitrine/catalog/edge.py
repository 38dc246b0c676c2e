"""Answer a repeated catalogue request before routing.

The catalogue's response cache already keeps whole encoded responses. For a GET whose exact path and query string
were answered before with the data unchanged, this pure ASGI middleware sends the stored bytes at once: no
routing, no parameter validation, no dependency solving. That work was most of the cost of a cached answer
(``GET /api/v1/books`` validates nine query parameters on every call). Anything else goes to the app unchanged,
and the route's own answer is what gets remembered, so errors, 404s and unknown paths never take this path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from vitrine.kit.response_cache import ResponseCache, etag_matches
from vitrine.kit.routes import ROUTE_SCOPE_KEY

_IF_NONE_MATCH = b"if-none-match"


class CatalogEdgeCache:
    def __init__(self, app: ASGIApp, prefix: str = "/api/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(self.prefix):
            cache: ResponseCache | None = getattr(scope["app"].state, "catalog_cache", None)
            if cache is not None:
                hit = cache.edge_lookup(scope["path"], scope["query_string"])
                if hit is not None:
                    entry, route = hit
                    scope[ROUTE_SCOPE_KEY] = route
                    etag = entry.etag.encode("latin-1")
                    headers = [(b"etag", etag), (b"cache-control", cache.cache_control.encode("latin-1"))]
                    if_none_match = next((v for k, v in scope["headers"] if k == _IF_NONE_MATCH), None)
                    if if_none_match is not None and etag_matches(if_none_match.decode("latin-1"), entry.etag):
                        await send({"type": "http.response.start", "status": 304, "headers": headers})
                        await send({"type": "http.response.body", "body": b""})
                        return
                    headers += [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(entry.body)).encode("latin-1")),
                    ]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": entry.body})
                    return
        await self.app(scope, receive, send)
