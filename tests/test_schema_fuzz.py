"""Property-based fuzzing of every operation in the OpenAPI schema, anonymous and as an admin: no input produces
a 500, and every successful answer matches its documented schema."""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from vitrine.auth.testing import bearer_headers, make_account
from vitrine.config import Settings
from vitrine.db import SessionFactory
from vitrine.main import create_app
from vitrine.models.user import Role
from vitrine.sandbox.fakestore import FakeStoreServer

# Operations exercised by their own tests rather than by random input (scraping would crawl the internet).
SKIP = {"GET /metrics", "POST /api/v1/scraping/trigger", "POST /api/v1/ml/train"}


@pytest.fixture(scope="module")
def fakestore_upstream() -> Iterator[FakeStoreServer]:
    with FakeStoreServer() as server:
        yield server


@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
def test_no_input_produces_a_server_error(
    settings: Settings,
    session_factory: SessionFactory,
    session: Any,
    make_book: Any,
    fakestore_upstream: FakeStoreServer,
    as_admin: bool,
) -> None:
    make_book(id=1)
    make_book(id=2, category="Travel")
    settings = settings.model_copy(
        update={"fakestore": settings.fakestore.model_copy(update={"base_url": fakestore_upstream.url})}
    )
    app = create_app(settings, session_factory=session_factory)
    headers: dict[str, str] = {}
    if as_admin:
        admin = make_account(session, role=Role.admin)
        session.commit()
        headers = bearer_headers(settings, admin)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in SKIP:
            continue

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: {response.text}"
            )
            if response.status_code < 300:
                case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        check()
        checked += 1
    assert checked >= 30
