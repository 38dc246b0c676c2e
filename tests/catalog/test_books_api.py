"""The public books API: every route, its filters, errors and pagination bounds."""

from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

API = "/api/v1"
FIELDS = {
    "id",
    "title",
    "price",
    "rating",
    "availability",
    "category",
    "upc",
    "description",
    "image_url",
    "url",
    "created_at",
    "updated_at",
}


def ids(body: dict[str, Any]) -> list[int]:
    return [item["id"] for item in body["items"]]


@pytest.mark.usefixtures("catalogue")
class TestListBooks:
    def test_default_page(self, client: TestClient) -> None:
        r = client.get(f"{API}/books")
        assert r.status_code == 200
        body = r.json()
        assert (body["total"], body["page"], body["size"], body["pages"]) == (6, 1, 20, 1)
        assert ids(body) == [10, 20, 30, 40, 50, 60]
        assert set(body["items"][0]) == FIELDS
        assert body["items"][0]["price"] == 51.77

    def test_pagination(self, client: TestClient) -> None:
        body = client.get(f"{API}/books", params={"page": 2, "size": 4}).json()
        assert ids(body) == [50, 60]
        assert (body["total"], body["pages"]) == (6, 2)
        past_end = client.get(f"{API}/books", params={"page": 9, "size": 4}).json()
        assert past_end["items"] == [] and past_end["total"] == 6

    @pytest.mark.parametrize(
        "params",
        [
            {"page": 0},
            {"size": 0},
            {"size": 101},
            {"page": "x"},
            {"sort": "bogus"},
            {"min_rating": 6},
            {"min_price": -1},
            {"in_stock": "maybe"},
            {"min_price": "abc"},
        ],
    )
    def test_bad_parameters_are_422(self, client: TestClient, params: dict[str, Any]) -> None:
        r = client.get(f"{API}/books", params=params)
        assert r.status_code == 422
        assert r.json()["error"] == "ValidationError"

    def test_size_100_is_allowed(self, client: TestClient) -> None:
        assert client.get(f"{API}/books", params={"size": 100}).status_code == 200

    def test_filters(self, client: TestClient) -> None:
        assert ids(client.get(f"{API}/books", params={"category": "poetry"}).json()) == [10]
        assert ids(client.get(f"{API}/books", params={"min_price": "50", "max_price": "52"}).json()) == [10, 30]
        assert ids(client.get(f"{API}/books", params={"min_rating": 4}).json()) == [40, 50, 60]
        assert 30 not in ids(client.get(f"{API}/books", params={"in_stock": "true"}).json())
        assert ids(client.get(f"{API}/books", params={"in_stock": "false"}).json()) == [30]

    def test_min_price_above_max_price_is_422(self, client: TestClient) -> None:
        r = client.get(f"{API}/books", params={"min_price": "60", "max_price": "10"})
        assert r.status_code == 422
        assert "min_price" in r.json()["detail"]

    def test_sort(self, client: TestClient) -> None:
        assert ids(client.get(f"{API}/books", params={"sort": "price"}).json())[0] == 60
        assert ids(client.get(f"{API}/books", params={"sort": "-price"}).json())[0] == 50
        assert ids(client.get(f"{API}/books", params={"sort": "-rating"}).json())[:2] == [50, 60]
        titles = [b["title"] for b in client.get(f"{API}/books", params={"sort": "title"}).json()["items"]]
        assert titles == sorted(titles)


@pytest.mark.usefixtures("catalogue")
class TestGetBook:
    def test_found(self, client: TestClient) -> None:
        r = client.get(f"{API}/books/40")
        assert r.status_code == 200
        assert r.json()["title"] == "Sharp Objects"

    def test_unknown_is_404(self, client: TestClient) -> None:
        r = client.get(f"{API}/books/999")
        assert r.status_code == 404
        assert r.json() == {"error": "NotFound", "detail": "Book 999 not found"}

    @pytest.mark.parametrize("raw", ["abc", "1.5", "0", "-3", "99999999999999999999"])
    def test_non_integer_or_out_of_range_is_422(self, client: TestClient, raw: str) -> None:
        assert client.get(f"{API}/books/{raw}").status_code == 422

    def test_etag_and_304(self, client: TestClient) -> None:
        first = client.get(f"{API}/books/40")
        etag = first.headers["etag"]
        again = client.get(f"{API}/books/40", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert client.get(f"{API}/books/10", headers={"If-None-Match": etag}).status_code == 200


@pytest.mark.usefixtures("catalogue")
class TestSearch:
    def test_title_substring_case_insensitive(self, client: TestClient) -> None:
        assert ids(client.get(f"{API}/books/search", params={"title": "THE"}).json()) == [10, 20, 60]

    def test_category_exact_case_insensitive(self, client: TestClient) -> None:
        assert ids(client.get(f"{API}/books/search", params={"category": "young adult"}).json()) == [60]
        assert client.get(f"{API}/books/search", params={"category": "young"}).json()["total"] == 0

    def test_title_and_category_combined(self, client: TestClient) -> None:
        body = client.get(f"{API}/books/search", params={"title": "the", "category": "Poetry"}).json()
        assert ids(body) == [10]

    def test_like_wildcards_are_literal(self, client: TestClient) -> None:
        assert client.get(f"{API}/books/search", params={"title": "%"}).json()["total"] == 0
        assert client.get(f"{API}/books/search", params={"title": "_"}).json()["total"] == 0

    def test_paginated(self, client: TestClient) -> None:
        body = client.get(f"{API}/books/search", params={"title": "the", "size": 2, "page": 2}).json()
        assert ids(body) == [60]
        assert body["pages"] == 2

    @pytest.mark.parametrize("params", [{}, {"title": ""}, {"title": "  "}, {"q": "x", "title": "y"}])
    def test_missing_terms_is_422(self, client: TestClient, params: dict[str, str]) -> None:
        r = client.get(f"{API}/books/search", params=params)
        assert r.status_code == 422
        assert r.json()["error"] == "ValidationError"

    def test_full_text_is_ranked(self, client: TestClient) -> None:
        body = client.get(f"{API}/books/search", params={"q": "history humankind"}).json()
        assert ids(body) == [50]
        assert body["items"][0]["score"] > 0
        london = client.get(f"{API}/books/search", params={"q": "london"}).json()
        assert ids(london) == [20]

    @pytest.mark.parametrize("q", ['"', "AND OR NOT", "*", "title:x", "(", "NEAR(a b)", "-"])
    def test_full_text_syntax_never_500(self, client: TestClient, q: str) -> None:
        r = client.get(f"{API}/books/search", params={"q": q})
        assert r.status_code == 200
        assert isinstance(r.json()["items"], list)


@pytest.mark.usefixtures("catalogue")
class TestCollections:
    def test_categories_with_counts(self, client: TestClient, make_book: Any) -> None:
        make_book(id=70, category="Poetry")
        body = client.get(f"{API}/categories").json()
        counts = {c["name"]: c["book_count"] for c in body["items"]}
        assert counts["Poetry"] == 2
        assert body["total"] == len(body["items"]) == 6

    def test_top_rated_with_tie_rule(self, client: TestClient) -> None:
        body = client.get(f"{API}/books/top-rated", params={"limit": 3}).json()
        # rating desc, then title A-Z, then id
        assert [b["id"] for b in body] == [50, 60, 40]
        assert len(client.get(f"{API}/books/top-rated").json()) == 6

    @pytest.mark.parametrize("limit", [0, 101, "x"])
    def test_top_rated_limit_bounds(self, client: TestClient, limit: Any) -> None:
        assert client.get(f"{API}/books/top-rated", params={"limit": limit}).status_code == 422

    def test_price_range_inclusive_and_cheapest_first(self, client: TestClient) -> None:
        body = client.get(f"{API}/books/price-range", params={"min": "47.82", "max": "51.77"}).json()
        assert ids(body) == [40, 30, 10]

    @pytest.mark.parametrize("params", [{"min": 10, "max": 5}, {"min": 1}, {"max": 1}, {"min": "x", "max": 3}])
    def test_price_range_errors(self, client: TestClient, params: dict[str, Any]) -> None:
        assert client.get(f"{API}/books/price-range", params=params).status_code == 422

    def test_overview(self, client: TestClient) -> None:
        body = client.get(f"{API}/stats/overview").json()
        assert body["total_books"] == 6
        assert body["min_price"] == 22.65 and body["max_price"] == 54.23
        expected_mean = sum(Decimal(x) for x in ["51.77", "53.74", "50.10", "47.82", "54.23", "22.65"]) / 6
        assert body["mean_price"] == float(expected_mean.quantize(Decimal("0.01")))
        assert body["rating_distribution"] == {"1": 2, "2": 0, "3": 1, "4": 1, "5": 2}
        assert (body["in_stock"], body["out_of_stock"]) == (5, 1)
        assert body["last_crawl_at"] is None

    def test_category_stats(self, client: TestClient, make_book: Any) -> None:
        make_book(id=71, category="Poetry", price=Decimal("10.00"), rating=5)
        stats = {s["category"]: s for s in client.get(f"{API}/stats/categories").json()["items"]}
        poetry = stats["Poetry"]
        assert poetry["book_count"] == 2
        assert (poetry["min_price"], poetry["max_price"]) == (10.0, 51.77)
        assert poetry["mean_price"] == 30.89 and poetry["mean_rating"] == 4.0


def test_empty_catalogue(client: TestClient) -> None:
    body = client.get(f"{API}/stats/overview").json()
    assert body["total_books"] == 0 and body["mean_price"] is None
    assert client.get(f"{API}/books").json() == {"items": [], "total": 0, "page": 1, "size": 20, "pages": 0}
    assert client.get(f"{API}/categories").json()["items"] == []


def test_history(client: TestClient, make_book: Any, session: Any) -> None:
    from vitrine.models import BookChange

    make_book(id=5, price=Decimal("10.00"), availability=3)
    session.add(
        BookChange(
            book_id=5, old_price=Decimal("10.00"), new_price=Decimal("12.00"), old_availability=3, new_availability=2
        )
    )
    session.commit()
    body = client.get(f"{API}/books/5/history").json()
    assert body["total"] == 1
    change = body["items"][0]
    assert (change["old_price"], change["new_price"], change["new_availability"]) == (10.0, 12.0, 2)
    assert client.get(f"{API}/books/6/history").status_code == 404


def test_cache_sees_new_data(client: TestClient, make_book: Any) -> None:
    assert client.get(f"{API}/books").json()["total"] == 0
    make_book(id=1)
    assert client.get(f"{API}/books").json()["total"] == 1


def test_unknown_route_is_json_404(client: TestClient) -> None:
    r = client.get(f"{API}/nope")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"


def test_method_not_allowed_is_json(client: TestClient) -> None:
    r = client.post(f"{API}/books")
    assert r.status_code == 405
    assert r.json()["error"] == "MethodNotAllowed"


def test_openapi_operation_ids_are_stable(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op_ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"books-list_books", "books-get_book", "books-search_books", "health-health"} <= op_ids
    assert client.get("/docs").status_code == 200


@pytest.mark.parametrize("path", ["/books?category=%00", "/books/search?title=a%00b", "/books/search?category=%00"])
def test_nul_character_in_a_filter_is_never_a_server_error(client: TestClient, make_book: Any, path: str) -> None:
    # PostgreSQL refuses NUL in text parameters; SQLite simply matches nothing. Either way: no 500, a JSON body.
    make_book(id=1)
    r = client.get(f"{API}{path}")
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["error"] == "ValidationError"
    assert client.get(f"{API}/books").json()["total"] == 1  # the failed query left the unit of work usable


def test_cors_is_off_unless_origins_are_configured(
    client: TestClient, settings: Any, session_factory: Any, make_book: Any
) -> None:
    origin = {"Origin": "https://panel.example.com"}
    assert "access-control-allow-origin" not in client.get(f"{API}/books", headers=origin).headers
    from vitrine.main import create_app

    allowed = settings.model_copy(update={"cors_origins": ["https://panel.example.com"]})
    with TestClient(create_app(allowed, session_factory=session_factory)) as cors_client:
        r = cors_client.get(f"{API}/books", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://panel.example.com"
        preflight = cors_client.options(
            f"{API}/books",
            headers={
                **origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        other = cors_client.get(f"{API}/books", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
