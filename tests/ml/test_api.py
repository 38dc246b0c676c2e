"""The ML API through the app: access rules, predictions and their validation, registry routes, drift."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vitrine.config import Settings
from vitrine.ml import repository, service
from vitrine.ml.install import flush_prediction_logs, sync_models
from vitrine.ml.training import TrainingResult
from vitrine.models.audit_event import AuditEvent
from vitrine.models.job_run import JobRun
from vitrine.models.ml_prediction_log import MLPredictionLog

BOOK = {
    "title": "The river of stories",
    "price": "41.00",
    "category": "Fiction",
    "availability": 3,
    "description": "An engaging masterpiece about a family.",
}


@pytest.fixture
def served(session: Session, app: FastAPI, client: TestClient, trained: TrainingResult, settings: Settings) -> FastAPI:
    """Both small models registered and promoted, and loaded by the app's process."""
    service.register(session, trained, settings.ml.artifacts_dir, job_id=None, auto_promote=True)
    session.commit()
    assert sorted(sync_models(app)) == [
        "logistic_regression: nothing -> v1",
        "random_forest: nothing -> v1",
    ]
    return app


def _predict(client: TestClient, headers: dict[str, str], body: Any, model: str | None = "random_forest") -> Any:
    params = {"model": model} if model else {}
    return client.post("/api/v1/ml/predictions", params=params, json=body, headers=headers)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/ml/features"),
        ("GET", "/api/v1/ml/training-data?format=csv"),
        ("POST", "/api/v1/ml/train"),
        ("GET", "/api/v1/ml/models"),
        ("POST", "/api/v1/ml/models/random_forest/promote"),
        ("POST", "/api/v1/ml/predictions"),
        ("GET", "/api/v1/ml/cache-status"),
        ("GET", "/api/v1/ml/drift"),
    ],
)
def test_every_route_needs_a_signed_in_user(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, json={"version": 1} if "promote" in path else BOOK)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


def test_training_and_promotion_need_an_admin(client: TestClient, user_headers: dict[str, str]) -> None:
    assert client.post("/api/v1/ml/train", headers=user_headers).status_code == 403
    promote = client.post("/api/v1/ml/models/svm/promote", json={"version": 1}, headers=user_headers)
    assert promote.status_code == 403


def test_predict_one_book(served: FastAPI, client: TestClient, user_headers: dict[str, str]) -> None:
    counter = {"model": "random_forest", "version": "1"}
    before = REGISTRY.get_sample_value("vitrine_ml_predictions_total", counter) or 0.0
    response = _predict(client, user_headers, BOOK)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "random_forest" and body["version"] == 1
    assert body["predicted_rating"] in {4, 5}  # the planted signal: price ~ 8 x rating, "masterpiece"
    assert set(body["probabilities"]) == {"1", "2", "3", "4", "5"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert max(body["probabilities"], key=body["probabilities"].get) == str(body["predicted_rating"])
    after = REGISTRY.get_sample_value("vitrine_ml_predictions_total", counter)
    assert after == before + 1


def test_predict_a_batch_and_the_default_model(
    served: FastAPI, client: TestClient, user_headers: dict[str, str]
) -> None:
    cheap = {**BOOK, "price": "9.00", "category": "poetry", "description": "A dreadful tale."}
    response = _predict(client, user_headers, [BOOK, cheap], model="logistic_regression")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "logistic_regression" and body["count"] == 2
    assert [p["predicted_rating"] for p in body["predictions"]][1] in {1, 2}
    default = _predict(client, user_headers, BOOK, model=None).json()
    best = max(["logistic_regression", "random_forest"], key=lambda n: _macro_f1(client, user_headers, n))
    assert default["model"] == best


def _macro_f1(client: TestClient, headers: dict[str, str], name: str) -> float:
    models = client.get("/api/v1/ml/cache-status", headers=headers).json()["models"]
    return float(next(m["macro_f1"] for m in models if m["name"] == name))


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({**BOOK, "rating": 5}, "prediction target"),
        ({k: v for k, v in BOOK.items() if k != "title"}, "title"),
        ({k: v for k, v in BOOK.items() if k != "price"}, "price"),
        ({**BOOK, "price": "-1"}, "price"),
        ({**BOOK, "shelf": "A3"}, "shelf"),
        ([], "at least 1"),
        ([BOOK] * 1001, "at most 1000"),
        ([BOOK, {**BOOK, "rating": 1}], "prediction target"),
    ],
)
def test_invalid_inputs_are_422(client: TestClient, user_headers: dict[str, str], body: Any, fragment: str) -> None:
    response = _predict(client, user_headers, body)
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"
    assert fragment in response.text


def test_unknown_category_lists_the_known_ones(
    served: FastAPI, client: TestClient, user_headers: dict[str, str]
) -> None:
    response = _predict(client, user_headers, [BOOK, {**BOOK, "category": "Cookbooks"}])
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["errors"][0]["loc"] == ["body", 1, "category"]
    assert detail["known_categories"] == ["Fiction", "Mystery", "Poetry", "Travel"]


def test_unknown_model_and_model_without_active_version(
    served: FastAPI, client: TestClient, user_headers: dict[str, str]
) -> None:
    unknown = _predict(client, user_headers, BOOK, model="deep_magic")
    assert unknown.status_code == 422
    assert "random_forest" in unknown.text
    inactive = _predict(client, user_headers, BOOK, model="svm")
    assert inactive.status_code == 404
    assert "svm has no active version" in inactive.json()["detail"]


def test_no_model_at_all(client: TestClient, user_headers: dict[str, str]) -> None:
    response = _predict(client, user_headers, BOOK, model=None)
    assert response.status_code == 404
    assert "no model is active yet" in response.json()["detail"]


def test_list_models_and_promote_through_the_api(
    served: FastAPI,
    client: TestClient,
    session: Session,
    trained: TrainingResult,
    settings: Settings,
    user_headers: dict[str, str],
    admin_headers: dict[str, str],
) -> None:
    service.register(session, trained, settings.ml.artifacts_dir, job_id=None, auto_promote=False)
    session.commit()
    page = client.get("/api/v1/ml/models", params={"name": "random_forest"}, headers=user_headers).json()
    assert page["total"] == 2
    assert [(v["version"], v["is_active"]) for v in page["items"]] == [(2, False), (1, True)]
    assert "profile" not in page["items"][0]["metrics"]
    assert page["items"][0]["metrics"]["baseline"]["strategy"] == "most_frequent"

    promoted = client.post("/api/v1/ml/models/random_forest/promote", json={"version": 2}, headers=admin_headers)
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["is_active"] is True
    assert sync_models(served) == ["random_forest: v1 -> v2"]
    assert _predict(client, user_headers, BOOK).json()["version"] == 2
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "ml.model.promoted")).all()
    assert [e.target for e in events] == ["random_forest:v2"]

    missing = client.post("/api/v1/ml/models/random_forest/promote", json={"version": 7}, headers=admin_headers)
    assert missing.status_code == 404
    bad_body = client.post("/api/v1/ml/models/random_forest/promote", json={"version": 0}, headers=admin_headers)
    assert bad_body.status_code == 422


def test_cache_status_is_the_leaderboard_of_this_process(
    served: FastAPI, client: TestClient, user_headers: dict[str, str]
) -> None:
    status = client.get("/api/v1/ml/cache-status", headers=user_headers).json()
    assert [m["name"] for m in status["models"]] == sorted(
        [m["name"] for m in status["models"]], key=lambda n: -_macro_f1(client, user_headers, n)
    )
    for model in status["models"]:
        assert model["version"] == 1
        assert model["macro_f1"] > model["baseline_macro_f1"]
        assert model["beats_baseline"] is True
        assert model["fast_path"] is True
    assert status["errors"] == []


def test_sampled_predictions_feed_the_drift_report(
    served: FastAPI, client: TestClient, session: Session, user_headers: dict[str, str]
) -> None:
    # The settings fixture samples every prediction (rate 1.0). Ask about expensive poetry only: drift.
    odd = [{**BOOK, "category": "Poetry", "price": "999.00"} for _ in range(40)]
    assert _predict(client, user_headers, odd).status_code == 200
    assert flush_prediction_logs(served) == 40
    assert session.scalar(select(func.count()).select_from(MLPredictionLog)) == 40
    report = client.get("/api/v1/ml/drift", params={"model": "random_forest"}, headers=user_headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["samples"] == 40 and body["enough_samples"] is True
    assert body["compared_versions"] == [1]
    price = next(n for n in body["numeric"] if n["feature"] == "price")
    assert price["status"] == "significant" and price["recent_mean"] == 999.0
    assert body["category"]["status"] == "significant"
    assert body["category"]["recent"]["Poetry"] == 1.0
    assert body["predictions"]["training"] == pytest.approx({str(r): 0.2 for r in range(1, 6)}, abs=0.01)
    assert client.get("/api/v1/ml/drift", params={"model": "svm"}, headers=user_headers).status_code == 404


def test_train_endpoint_starts_a_job(
    client: TestClient, session: Session, books: list[dict[str, Any]], admin_headers: dict[str, str]
) -> None:
    body = {"models": ["logistic_regression"], "cv_folds": 2}
    response = client.post("/api/v1/ml/train", json=body, headers=admin_headers)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status_url"] == f"/api/v1/jobs/{accepted['job_id']}"
    # The test app runs jobs inline at commit time, so the job has finished.
    job = session.get(JobRun, accepted["job_id"])
    assert job is not None
    session.refresh(job)
    assert job.status == "succeeded", job.error
    assert job.kind == "ml.train"
    assert job.result is not None
    assert job.result["rows"] == len(books)
    assert job.result["models"]["logistic_regression"]["promoted"] is True
    active = repository.active_version(session, "logistic_regression")
    assert active is not None and active.training_job_id == accepted["job_id"]
    invalid = client.post("/api/v1/ml/train", json={"models": ["magic"]}, headers=admin_headers)
    assert invalid.status_code == 422
