"""How a standard-dose enhancement scales to a lower dose: the signal model of synthetic low dose.

The agent's concentration is proportional to the injected dose, C_d = d * C_SD, and shortens T1 as
1/T1 = 1/T1_0 + r1 * C (documentation/method.md section 7), so the change of the relaxation rate scales with
the dose: dR1_d = d * dR1_SD. The T1-weighted signal is not linear in dR1. For a spoiled gradient echo
(:func:`gdr_toolkit.simulation.signal_equation.spgr_signal`)::

    S(R1) = M0 * sin(a) * f(R1),   f(R1) = (1 - E1) / (1 - cos(a) * E1),   E1 = exp(-TR * R1)

The pre-contrast image gives M0 * sin(a) * f(R1_0) per voxel, so the ratio q = x_SD / x_PC =
f(R1_0 + dR1_SD) / f(R1_0) determines dR1_SD. f is inverted in closed form,
E1 = (1 - f) / (1 - cos(a) * f), and the low-dose signal is x_PC * f(R1_0 + d * dR1_SD) / f(R1_0).

Assumptions (stated in documentation/synthetic_low_dose.md): one native T1_0 for every voxel (that of
enhancing tissue), a spoiled gradient echo with the given TR and flip angle, no T2* shortening (TE << T2*
at these concentrations), fast water exchange, and a PC image in the same intensity frame as the SD one.
``kind="linear"`` instead scales the enhancement by the dose: x_LD - x_PC = d * (x_SD - x_PC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from gdr_toolkit.simulation.signal_equation import MS_PER_S, SequencePreset, spgr_signal

SignalModelKind = Literal["spgr", "linear"]
MAX_SIGNAL_FRACTION = 0.98  # f is capped below its limit 1 (R1 -> infinity) so that the inverse is finite
#: PC below this fraction of its brain median is too dark for a ratio: the enhancement scales linearly there.
MIN_PRE_CONTRAST_FRACTION = 0.05


@dataclass(frozen=True)
class SignalModel:
    """The dose-response model.

    Attributes:
        kind: "spgr" (spoiled gradient echo, default) or "linear" (enhancement proportional to the dose).
        native_t1_ms: assumed T1_0 of enhancing tissue before contrast, ms (default 1400: a tumour or
            grey matter at 1.5-3 T).
        repetition_time_ms: TR of the contrast-enhanced sequence, ms (default 7.6: a 3D fast SPGR).
        flip_angle_deg: flip angle of the contrast-enhanced sequence, degrees (default 12).
    """

    kind: SignalModelKind = "spgr"
    native_t1_ms: float = 1400.0
    repetition_time_ms: float = 7.6
    flip_angle_deg: float = 12.0

    def __post_init__(self) -> None:
        if self.kind not in ("spgr", "linear"):
            raise ValueError(f"signal model kind must be 'spgr' or 'linear', got {self.kind!r}.")
        for name in ("native_t1_ms", "repetition_time_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 ms, got {getattr(self, name)}.")
        if not 0 < self.flip_angle_deg < 90:
            raise ValueError(f"flip_angle_deg must be in (0, 90) degrees, got {self.flip_angle_deg}.")

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def preset(self) -> SequencePreset:
        """The sequence as a :class:`SequencePreset` (TE is irrelevant without T2* decay)."""
        return SequencePreset("synthetic_low_dose", 0.0, self.repetition_time_ms, 0.0, self.flip_angle_deg)


def saturation_fraction(relaxation_rate_per_s: np.ndarray | float, model: SignalModel) -> np.ndarray:
    """f(R1) = S / (M0 sin a) of a spoiled gradient echo, in (0, 1).

    Args:
        relaxation_rate_per_s: R1 = 1 / T1 in 1/s (> 0), any shape.
        model: TR and flip angle.

    Returns:
        float64 array of f, the input's shape.
    """
    t1_ms = MS_PER_S / np.asarray(relaxation_rate_per_s, dtype=np.float64)
    return spgr_signal(1.0, t1_ms, model.preset) / np.sin(np.deg2rad(model.flip_angle_deg))


def relaxation_rate_from_fraction(fraction: np.ndarray, model: SignalModel) -> np.ndarray:
    """Inverse of :func:`saturation_fraction`: R1 in 1/s from f in (0, 1)."""
    cosine = np.cos(np.deg2rad(model.flip_angle_deg))
    with np.errstate(all="raise", under="ignore"):
        e1 = (1.0 - fraction) / (1.0 - cosine * fraction)
        return -np.log(e1) * MS_PER_S / model.repetition_time_ms


def scale_enhancement(
    pre_contrast: np.ndarray, enhancement: np.ndarray, dose_fraction: float, model: SignalModel
) -> np.ndarray:
    """The enhancement x_LD - x_PC at ``dose_fraction`` from the standard-dose enhancement x_SD - x_PC.

    Args:
        pre_contrast: x_PC, float array ``(z, y, x)`` in the frame of the SD image (only its values where
            ``enhancement > 0`` matter).
        enhancement: x_SD - x_PC (>= 0 where meaningful; values <= 0 scale linearly), same shape.
        dose_fraction: d in (0, 1].
        model: the dose-response model.

    Returns:
        float32 array, the enhancement at dose d, same shape. Where x_PC is below
        :data:`MIN_PRE_CONTRAST_FRACTION` of the median positive x_PC (no ratio is defined) the linear
        model is used.
    """
    if not 0 < dose_fraction <= 1:
        raise ValueError(f"dose_fraction must be in (0, 1], got {dose_fraction}.")
    linear = dose_fraction * enhancement.astype(np.float64)
    if model.kind == "linear":
        return linear.astype(np.float32)
    positive = pre_contrast[pre_contrast > 0]
    floor = MIN_PRE_CONTRAST_FRACTION * float(np.median(positive)) if positive.size else np.inf
    usable = (enhancement > 0) & (pre_contrast > floor)
    base = pre_contrast[usable].astype(np.float64)
    native_rate = MS_PER_S / model.native_t1_ms
    native_fraction = float(saturation_fraction(native_rate, model))
    ratio = 1.0 + enhancement[usable] / base
    fraction = np.minimum(ratio * native_fraction, MAX_SIGNAL_FRACTION)
    rate_change = relaxation_rate_from_fraction(fraction, model) - native_rate
    scaled = saturation_fraction(native_rate + dose_fraction * rate_change, model) / native_fraction
    result = linear
    result[usable] = base * (scaled - 1.0)
    return result.astype(np.float32)
