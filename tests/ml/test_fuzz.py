"""Property-based fuzzing of the ML operations as an admin with models loaded: never a 500, and every
successful answer matches its schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.ml import service
from vitrine.ml.install import sync_models
from vitrine.ml.training import TrainingResult

# Training runs inline in the test app: exercised by its own tests, too slow to fuzz.
SKIP = {"POST /api/v1/ml/train"}


def test_ml_operations_never_answer_500(
    app: FastAPI,
    session: Session,
    trained: TrainingResult,
    settings: Settings,
    books: list[dict[str, Any]],
    admin_headers: dict[str, str],
) -> None:
    service.register(session, trained, settings.ml.artifacts_dir, job_id=None, auto_promote=True)
    session.commit()
    sync_models(app)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if "ml" not in (operation.tags or ()) or operation.label in SKIP:
            continue

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=admin_headers)
            assert response.status_code < 500, f"{case.method} {case.formatted_path} {case.query} -> {response.text}"
            if response.status_code < 300:
                case.validate_response(response, checks=[content_type_conformance, response_schema_conformance])

        check()
        checked += 1
    assert checked == 7
