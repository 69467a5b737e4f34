"""Condition vectors c (documentation/method.md section 3) from case properties, normalised for the MLP.

The keys come from the plan (``condition_keys``, in that order): ``dose_fraction``, ``field_strength_t``
and ``relaxivity`` are read from ``properties["condition"]``, ``noise_sigma_ld`` from
``properties["noise_sigma_ld"]``. Each key is standardised with the mean and standard deviation over the
fold's *training* cases, so the MLP sees O(1) inputs whatever the units (tesla, L/(mmol*s), fractions).
The statistics are stored in the checkpoint and reused unchanged at inference. A key that is constant
over the training cases (std 0) is only centred (std stored as 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOP_LEVEL_KEYS = ("noise_sigma_ld",)


def raw_condition(properties: Mapping[str, Any], keys: Sequence[str], case_id: str) -> np.ndarray:
    """The unnormalised condition vector of one case.

    Args:
        properties: the case's preprocessing properties (``CASE.json``).
        keys: condition keys in order.
        case_id: the case, for error messages.

    Returns:
        float64 array (K,).

    Raises:
        ValueError: a key is missing or not a finite number (the message names the case and the key).
    """
    values = []
    for key in keys:
        source = properties if key in TOP_LEVEL_KEYS else properties.get("condition", {})
        if key not in source:
            where = "" if key in TOP_LEVEL_KEYS else '["condition"]'
            raise ValueError(
                f"case {case_id!r}: condition key {key!r} is missing from its properties{where}; "
                "re-run gdr_preprocess or choose plans whose condition_keys the dataset carries"
            )
        value = source[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ValueError(
                f"case {case_id!r}: condition key {key!r} must be a finite number, got {value!r}"
            )
        values.append(float(value))
    return np.asarray(values, dtype=np.float64)


@dataclass(frozen=True)
class ConditionNormalisation:
    """Per-key standardisation c_norm = (c - mean) / std.

    Attributes:
        keys: condition keys in order (K of them).
        mean: per-key mean over the training cases.
        std: per-key standard deviation over the training cases (1 where it was 0).
    """

    keys: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.keys) == len(self.mean) == len(self.std):
            raise ValueError(f"keys, mean and std differ in length: {self.keys}, {self.mean}, {self.std}")
        if any(value <= 0 for value in self.std):
            raise ValueError(f"std must be positive, got {self.std}")

    @classmethod
    def from_training_cases(
        cls, properties_by_case: Mapping[str, Mapping[str, Any]], keys: Sequence[str]
    ) -> ConditionNormalisation:
        """Statistics over the given (training) cases; at least one case is needed."""
        if not properties_by_case:
            raise ValueError("condition statistics need at least one training case, got none")
        table = np.stack([raw_condition(props, keys, case) for case, props in properties_by_case.items()])
        table = table.reshape(len(properties_by_case), len(keys))
        std = table.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(np.abs(table.mean(axis=0)), 1.0), std, 1.0)
        return cls(tuple(keys), tuple(float(v) for v in table.mean(axis=0)), tuple(float(v) for v in std))

    def normalise(self, raw: np.ndarray) -> np.ndarray:
        """(K,) or (B, K) raw values -> float32 standardised values of the same shape."""
        return ((raw - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def case_vector(self, properties: Mapping[str, Any], case_id: str) -> np.ndarray:
        """The normalised float32 (K,) condition vector of one case."""
        return self.normalise(raw_condition(properties, self.keys, case_id))

    def to_json_dict(self) -> dict[str, list[str] | list[float]]:
        return {"keys": list(self.keys), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json_dict(cls, record: Mapping[str, Any]) -> ConditionNormalisation:
        try:
            return cls(tuple(record["keys"]), tuple(record["mean"]), tuple(record["std"]))
        except KeyError as error:
            raise ValueError(f"condition normalisation lacks {error}; expected keys, mean, std") from error
