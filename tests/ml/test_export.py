"""The feature tables: paginated JSON, and the whole table as streamed CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from vitrine.db import SessionFactory
from vitrine.ml import service
from vitrine.ml.features import FEATURE_COLUMNS


def test_feature_page_has_no_target(
    client: TestClient, books: list[dict[str, Any]], user_headers: dict[str, str]
) -> None:
    page = client.get("/api/v1/ml/features", params={"page": 2, "size": 50}, headers=user_headers).json()
    assert page["total"] == len(books) and page["pages"] == 4
    assert [row["book_id"] for row in page["items"]] == list(range(51, 101))
    assert set(page["items"][0]) == {"book_id", *FEATURE_COLUMNS}
    assert "rating" not in page["items"][0]


def test_training_data_page_has_the_target(
    client: TestClient, books: list[dict[str, Any]], user_headers: dict[str, str]
) -> None:
    page = client.get("/api/v1/ml/training-data", params={"size": 5}, headers=user_headers).json()
    assert [row["rating"] for row in page["items"]] == [b["rating"] for b in books[:5]]
    assert page["items"][0]["price"] == float(books[0]["price"])


def test_csv_export_streams_the_whole_table(
    client: TestClient, books: list[dict[str, Any]], user_headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/ml/training-data", params={"format": "csv"}, headers=user_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="training-data.csv"' in response.headers["content-disposition"]
    assert "content-length" not in response.headers  # streamed (chunked), not buffered
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(books)
    assert list(rows[0]) == ["book_id", *FEATURE_COLUMNS, "rating"]
    assert [int(r["book_id"]) for r in rows] == [b["id"] for b in books]
    assert [int(r["rating"]) for r in rows] == [b["rating"] for b in books]

    features = client.get("/api/v1/ml/features", params={"format": "csv"}, headers=user_headers)
    header = next(csv.reader(io.StringIO(features.text)))
    assert header == ["book_id", *FEATURE_COLUMNS]
    assert features.text.count("\n") == len(books) + 1


def test_csv_is_generated_in_chunks(session_factory: SessionFactory, books: list[dict[str, Any]]) -> None:
    chunks = list(service.stream_csv(session_factory, with_target=False, chunk_rows=64))
    assert len(chunks) == 4  # 64 + 64 + 64 + 8 rows (the header rides with the first chunk)
    assert sum(chunk.count("\n") for chunk in chunks) == len(books) + 1
    assert chunks[0].startswith("book_id,price,")


def test_csv_of_an_empty_catalogue_is_just_the_header(client: TestClient, user_headers: dict[str, str]) -> None:
    response = client.get("/api/v1/ml/features", params={"format": "csv"}, headers=user_headers)
    assert response.text == ",".join(["book_id", *FEATURE_COLUMNS]) + "\n"
