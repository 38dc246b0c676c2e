"""Drift: how far recent prediction requests (and answers) are from what the model was trained on.

The reference is the training-split profile stored with each version (decile bins, mean and standard deviation
per numeric feature, category shares, rating shares). The measure is the population stability index,
PSI = sum((recent - training) * ln(recent / training)) over bins, with the usual reading: below 0.1 stable,
0.1 to 0.25 moderate shift, above 0.25 significant shift.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vitrine.ml.features import NUMERIC_FEATURES
from vitrine.ml.schemas import DistributionDrift, NumericDrift

MODERATE = 0.1
SIGNIFICANT = 0.25
MIN_SAMPLES = 30
_EPSILON = 1e-4  # keeps empty bins from dividing by zero
OTHER = "(other)"


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, _EPSILON), max(a, _EPSILON)
        total += (a - e) * math.log(a / e)
    return round(total, 4)


def status(value: float) -> str:
    if value >= SIGNIFICANT:
        return "significant"
    if value >= MODERATE:
        return "moderate"
    return "stable"


def _shares(counts: Counter[str], keys: Sequence[str], total: int) -> list[float]:
    return [counts.get(k, 0) / total if total else 0.0 for k in keys]


def numeric_drift(profile: Mapping[str, Any], samples: Sequence[Mapping[str, Any]]) -> list[NumericDrift]:
    out = []
    for name in NUMERIC_FEATURES:
        reference = profile["numeric"].get(name)
        values = np.asarray([float(s[name]) for s in samples if name in s], dtype=float)
        if reference is None or not len(values):
            continue
        counts = np.bincount(
            np.searchsorted(reference["edges"], values, side="right"), minlength=len(reference["edges"]) + 1
        )
        recent = (counts / len(values)).tolist()
        value = psi(reference["proportions"], recent)
        std = float(reference["std"]) or 1.0
        recent_mean = float(values.mean())
        out.append(
            NumericDrift(
                feature=name,
                training_mean=round(float(reference["mean"]), 4),
                training_std=round(float(reference["std"]), 4),
                recent_mean=round(recent_mean, 4),
                recent_std=round(float(values.std()), 4),
                mean_shift_in_std=round((recent_mean - float(reference["mean"])) / std, 4),
                psi=value,
                status=status(value),
            )
        )
    return out


def distribution_drift(reference: Mapping[str, float], observed: Sequence[str]) -> DistributionDrift | None:
    """PSI between the training shares of some labels and the shares observed; unseen labels pool in OTHER."""
    if not observed:
        return None
    keys = sorted(reference)
    counts = Counter(k if k in reference else OTHER for k in observed)
    if OTHER in counts:
        keys.append(OTHER)
    expected = [float(reference.get(k, 0.0)) for k in keys]
    actual = _shares(counts, keys, len(observed))
    value = psi(expected, actual)
    return DistributionDrift(
        psi=value,
        status=status(value),
        training={k: round(v, 4) for k, v in zip(keys, expected, strict=True)},
        recent={k: round(v, 4) for k, v in zip(keys, actual, strict=True)},
    )
