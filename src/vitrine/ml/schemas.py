"""Request and response bodies of the ML API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from vitrine.kit.pagination import Page
from vitrine.ml.features import TARGET
from vitrine.ml.names import MODEL_NAMES

MAX_BATCH = 1000


class ModelName(StrEnum):
    random_forest = "random_forest"
    logistic_regression = "logistic_regression"
    svm = "svm"
    hist_gradient_boosting = "hist_gradient_boosting"


assert tuple(ModelName) == MODEL_NAMES, "ModelName must list the models of vitrine.ml.pipelines"


class BookFeaturesIn(BaseModel):
    """One book as a model sees it. The rating is what is predicted, so it is refused as an input."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "example": {
                "title": "A Light in the Attic",
                "price": "51.77",
                "category": "Poetry",
                "availability": 22,
                "description": "It's hard to imagine a world without A Light in the Attic.",
            }
        },
    )

    title: str = Field(min_length=1, max_length=1000)
    price: Decimal = Field(ge=0, le=1_000_000, max_digits=12, decimal_places=2)
    category: str = Field(min_length=1, max_length=120)
    availability: int = Field(ge=0, le=1_000_000, description="Copies in stock")
    description: str = Field(default="", max_length=20_000)

    @model_validator(mode="before")
    @classmethod
    def _refuse_target(cls, data: Any) -> Any:
        if isinstance(data, dict) and TARGET in data:
            raise ValueError(f"'{TARGET}' is the prediction target and cannot be sent as an input")
        return data


def _body_kind(value: Any) -> str:
    return "books" if isinstance(value, list) else "book"


PredictionBody = Annotated[
    Annotated[BookFeaturesIn, Tag("book")]
    | Annotated[list[BookFeaturesIn], Tag("books"), Field(min_length=1, max_length=MAX_BATCH)],
    Discriminator(_body_kind),
]


class PredictionItem(BaseModel):
    predicted_rating: int
    probabilities: dict[str, float] = Field(description="Probability of each rating, keyed '1' to '5'")


class PredictionOut(PredictionItem):
    model: str
    version: int


class BatchPredictionOut(BaseModel):
    model: str
    version: int
    count: int
    predictions: list[PredictionItem]


class FeatureRowRead(BaseModel):
    book_id: int
    price: float
    availability: int
    in_stock: int
    title_chars: int
    title_words: int
    description_chars: int
    description_words: int
    description_sentences: int
    category: str
    title: str
    description: str


class TrainingRowRead(FeatureRowRead):
    rating: int


FeaturePage = Page[FeatureRowRead]
TrainingPage = Page[TrainingRowRead]


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelName] | None = Field(default=None, min_length=1, description="Default: every model")
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    test_size: float = Field(default=0.2, ge=0.1, le=0.5)
    cv_folds: int = Field(default=5, ge=2, le=10)
    auto_promote: bool | None = Field(default=None, description="Default: the server setting ml.auto_promote")


class JobAccepted(BaseModel):
    job_id: str
    status_url: str


class PromoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=2**31 - 1)


class ModelVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    version: int
    is_active: bool
    accuracy: float
    macro_f1: float
    metrics: dict[str, Any] = Field(description="Held-out scores, baseline, cross-validation, data snapshot, ...")
    sklearn_version: str
    artifact_sha256: str
    created_at: datetime
    promoted_at: datetime | None
    training_job_id: str | None


ModelVersionPage = Page[ModelVersionRead]


class LoadedModelRead(BaseModel):
    name: str
    version: int
    artifact_sha256: str
    loaded_at: datetime
    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    baseline_macro_f1: float
    cv_macro_f1: float | None
    chance_accuracy: float | None = Field(description="Expected accuracy of guessing with the training frequencies")
    chance_macro_f1: float | None
    beats_baseline: bool
    beats_chance: bool
    accuracy_p_value: float | None = Field(
        description="One-sided binomial test of the held-out accuracy against the majority baseline's"
    )
    training_rows: int
    fast_path: bool = Field(description="Predictions skip scikit-learn's per-call dispatch (verified equal at load)")


class LoadErrorRead(BaseModel):
    name: str
    version: int
    error: str
    at: datetime


class CacheStatus(BaseModel):
    pid: int
    models: list[LoadedModelRead] = Field(description="Loaded in this process, best held-out macro F1 first")
    errors: list[LoadErrorRead]
    last_sync_at: datetime | None
    reload_interval_seconds: float
    pending_prediction_logs: int


class NumericDrift(BaseModel):
    feature: str
    training_mean: float
    training_std: float
    recent_mean: float
    recent_std: float
    mean_shift_in_std: float = Field(description="(recent mean - training mean) / training std")
    psi: float
    status: str


class DistributionDrift(BaseModel):
    psi: float
    status: str
    training: dict[str, float]
    recent: dict[str, float]


class DriftReport(BaseModel):
    model: str
    active_version: int
    compared_versions: list[int] = Field(description="Versions that served the sampled predictions")
    window_hours: float
    samples: int
    enough_samples: bool
    numeric: list[NumericDrift]
    category: DistributionDrift | None
    predictions: DistributionDrift | None = Field(
        description="Predicted ratings of recent requests vs the rating distribution of the training split"
    )
    thresholds: dict[str, float]
