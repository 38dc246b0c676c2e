"""Property-based fuzzing of the accounts operations, anonymous and as an admin: never a 500, and every
successful answer matches its schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from tests.auth.conftest import Api

from vitrine.models.user import Role, User

TAGS = ("auth", "users", "admin")


@pytest.mark.parametrize("as_admin", [False, True])
def test_accounts_operations_never_answer_500(
    app: FastAPI, api: Api, make_user: Callable[..., User], as_admin: bool
) -> None:
    make_user("root", role=Role.admin)
    make_user("second", role=Role.admin)
    headers = api.headers("root") if as_admin else {}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not set(operation.tags or ()) & set(TAGS):
            continue
        if as_admin and operation.method.upper() == "DELETE":
            continue  # random deletions would remove the admin the rest of the run signs in as

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.text}"
            if response.status_code < 300:
                case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        check()
        checked += 1
    assert checked >= 8
