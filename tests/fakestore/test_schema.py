"""Property-based fuzzing of the FakeStore and favorites operations against the sandbox upstream: no input gives a
500, and every documented answer matches its schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from vitrine.config import Settings
from vitrine.kit.cache import Cache
from vitrine.models.user import User

from .conftest import auth


def test_fakestore_operations_never_fail_and_match_their_schema(
    make_app: Callable[..., FastAPI], memory_cache: Cache, fs_settings: Settings, make_user: Callable[..., User]
) -> None:
    app = make_app(memory_cache)
    headers = auth(fs_settings, make_user())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not any(part in operation.path for part in ("fakestore", "favorites")):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: {response.text}"
            )
            if response.status_code < 300:
                case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        check()
        checked += 1
    assert checked == 10
