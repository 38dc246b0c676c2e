"""The one feature definition, shared by training, prediction, the feature export and drift monitoring.

A model sees exactly the columns in ``FEATURE_COLUMNS``, built from a ``BookInput`` — a type with no rating field,
so the target cannot reach the features by construction (``tests/ml/test_leakage.py`` guards it). Scalar
signals are computed here; text becomes TF-IDF inside each model's pipeline, so its vocabulary is fitted on the
training split only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import numpy as np

TARGET: Final = "rating"
CLASSES: Final = (1, 2, 3, 4, 5)

NUMERIC_FEATURES: Final = (
    "price",
    "availability",
    "in_stock",
    "title_chars",
    "title_words",
    "description_chars",
    "description_words",
    "description_sentences",
)
CATEGORICAL_FEATURES: Final = ("category",)
TEXT_FEATURES: Final = ("title", "description")
FEATURE_COLUMNS: Final = NUMERIC_FEATURES + CATEGORICAL_FEATURES + TEXT_FEATURES
# Column positions inside the feature matrix, for the pipelines' column transformers.
NUMERIC_INDEX: Final = [FEATURE_COLUMNS.index(name) for name in NUMERIC_FEATURES]
CATEGORY_INDEX: Final = FEATURE_COLUMNS.index("category")
TITLE_INDEX: Final = FEATURE_COLUMNS.index("title")
DESCRIPTION_INDEX: Final = FEATURE_COLUMNS.index("description")

# The site appends this to truncated descriptions; it says nothing about the book.
_MORE_SUFFIX = re.compile(r"\s*\.\.\.more\s*$")
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class BookInput:
    """What a model may know about a book. Deliberately has no rating."""

    title: str
    price: Decimal | float
    category: str
    availability: int
    description: str = ""


FeatureRow = dict[str, Any]


def normalize_category(category: str) -> str:
    return _SPACES.sub(" ", category).strip()


def clean_description(description: str) -> str:
    return _MORE_SUFFIX.sub("", description or "").strip()


def feature_row(book: BookInput) -> FeatureRow:
    """The model inputs for one book, in ``FEATURE_COLUMNS`` order."""
    title = _SPACES.sub(" ", book.title).strip()
    description = clean_description(book.description)
    availability = int(book.availability)
    return {
        "price": float(book.price),
        "availability": availability,
        "in_stock": int(availability > 0),
        "title_chars": len(title),
        "title_words": len(_WORD.findall(title)),
        "description_chars": len(description),
        "description_words": len(_WORD.findall(description)),
        "description_sentences": len(_SENTENCE_END.findall(description)),
        "category": normalize_category(book.category),
        "title": title,
        "description": description,
    }


def scalar_features(row: FeatureRow) -> FeatureRow:
    """The row without its free text: what the prediction log keeps for drift monitoring."""
    return {name: row[name] for name in NUMERIC_FEATURES + CATEGORICAL_FEATURES}


def to_matrix(rows: Sequence[FeatureRow]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Rows as the 2-D object array every pipeline takes (columns in ``FEATURE_COLUMNS`` order)."""
    matrix = np.empty((len(rows), len(FEATURE_COLUMNS)), dtype=object)
    for i, row in enumerate(rows):
        matrix[i, :] = [row[name] for name in FEATURE_COLUMNS]
    return matrix


def feature_matrix(books: Iterable[BookInput]) -> np.ndarray[Any, np.dtype[np.object_]]:
    return to_matrix([feature_row(book) for book in books])
