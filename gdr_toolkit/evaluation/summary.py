"""The evaluation summary: per-case and per-lesion metrics of every evaluated image set, aggregates, and
the exact definitions; JSON conversion (``summary.json``, format below).

``summary.json``::

    {"format_version": 1,
     "definitions": {metric: text, ...}, "parameters": {...MetricOptions, brain mask rule...},
     "inputs": {"reference_folder": ..., ...},
     "cases": {CASE: {"intensity_scale": s, "reference_alignment": a, "peak": P, "noise_sigma": sigma_SD,
                      "brain_voxels": n, "ce_voxels": n, "excluded_brain_voxels": n,
                      "valid_mask": FILE or null}},
     "methods": {NAME: {"cases": {CASE: {"psnr_i", "psnr_b", "ssim", "mae_ce", "intensity_alignment",
                                         "lesions": {LABEL: {"voxels", "psnr_l", "c_bar", "c_hat", "cnr"}}}},
                        "aggregate": {METRIC: {"mean", "std", "n", "n_excluded"}}}}}

With guard maps in the prediction folder, ``"hallucination_guard": {"cases": {CASE: {...}}, "pooled": {...}}``
(``guard_evaluation``). NAME is the prediction suffix without its leading underscore (``sd``, ``sdplus``) or ``low_dose`` for
the x_LD baseline. JSON has no inf/NaN: non-finite values are written as ``null``. Aggregates use the
finite values only (``n`` counts them, ``n_excluded`` the rest: PSNR of an exact match, undefined
enhancement); ``std`` is the sample standard deviation (ddof 1; null for n < 2). Case metrics
(psnr_i, psnr_b, ssim, mae_ce) are aggregated over cases, lesion metrics (psnr_l, c_bar, c_hat) over all
lesions pooled (as the paper's tables).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from gdr_toolkit.evaluation.case_evaluation import EvaluationFrame, ImageMetrics, MetricOptions
from gdr_toolkit.evaluation.guard_evaluation import GuardMetrics, guard_json

SUMMARY_FORMAT_VERSION = 1
CASE_METRICS = ("psnr_i", "psnr_b", "ssim", "mae_ce")
LESION_METRICS = ("psnr_l", "c_bar", "c_hat")
LOW_DOSE_METHOD = "low_dose"

DEFINITIONS = {
    "frame": "Acquired scans (x_SD, x_LD) are multiplied by their robust radiometric scale to x_PC (Tukey "
    "IRLS in the brain) when align_acquired_scans; every image is then divided by s = the "
    "normalisation_percentile-th percentile of x_PC inside the brain (of the aligned x_SD without x_PC).",
    "peak": "P = max of the normalised x_SD inside the brain mask; PSNR peak and SSIM data range.",
    "psnr_i": "10 log10(P^2 / mean over all voxels of (x - x_SD)^2), dB.",
    "psnr_b": "10 log10(P^2 / mean over brain voxels of (x - x_SD)^2), dB.",
    "psnr_l": "10 log10(P^2 / mean over the lesion's voxels of (x - x_SD)^2), dB, one value per lesion label.",
    "ssim": "Wang et al. 2004 SSIM map, 3D Gaussian window (std ssim_sigma voxels, truncated at 3.5 std, "
    "mirror boundaries), population moments, C1 = (K1 P)^2, C2 = (K2 P)^2, computed on the whole volume "
    "and averaged over the brain mask.",
    "mae_ce": "mean over CE voxels of |x - x_SD| in normalised units; CE = brain & (x_SD - x_PC > k sigma_SD), "
    "k = ce_threshold_sigmas, sigma_SD = median(-(x_SD - x_PC) | < 0, brain) / 0.6745.",
    "c_bar": "sum_L (x - x_PC) / sum_L (x_SD - x_PC) per lesion L (null if the denominator <= 0).",
    "c_hat": "max_L (x - x_PC) / max_L (x_SD - x_PC) per lesion L (null if the denominator <= 0).",
    "cnr": "mean_L (x_SD - x_PC) / sigma_SD per lesion L: its standard-dose enhancement in units of the noise "
    "of x_SD - x_PC (the same for every image set; null without x_PC or when sigma_SD is 0). Not aggregated.",
    "valid_mask": "where a valid-data mask is given (the predictor's CASE_valid_mask, 1 where the low dose has "
    "data), only valid voxels are evaluated: the brain mask is brain & valid, PSNR_I averages over valid "
    "voxels, lesions are cut to their valid voxels and the image under test equals x_SD outside valid for "
    "the SSIM windows; excluded_brain_voxels counts the brain voxels left out.",
    "non_finite": "inf (PSNR of an exact match) and NaN (undefined) are written as null and left out of "
    "the aggregates (n_excluded counts them).",
}


def json_number(value: float | None) -> float | None:
    """``value`` as a JSON-safe number: None for None, NaN and +-inf."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def aggregate(values: list[float]) -> dict[str, float | int | None]:
    """``{"mean", "std" (ddof 1), "n", "n_excluded"}`` over the finite entries of ``values``."""
    finite = np.array([value for value in values if value is not None and math.isfinite(value)])
    n = int(finite.size)
    return {
        "mean": float(finite.mean()) if n else None,
        "std": float(finite.std(ddof=1)) if n > 1 else None,
        "n": n,
        "n_excluded": len(values) - n,
    }


@dataclass(frozen=True)
class CaseFrameInfo:
    """Per-case reference quantities (see :class:`~gdr_toolkit.evaluation.case_evaluation.EvaluationFrame`)."""

    intensity_scale: float
    reference_alignment: float
    peak: float
    noise_sigma: float | None
    brain_voxels: int
    ce_voxels: int | None
    excluded_brain_voxels: int = 0
    valid_mask: str | None = None

    @classmethod
    def from_frame(cls, frame: EvaluationFrame, valid_mask: str | None = None) -> CaseFrameInfo:
        """The frame's quantities; ``valid_mask``: the valid-mask file used (None: none)."""
        ce_voxels = None if frame.ce_mask is None else int(frame.ce_mask.sum())
        return cls(
            frame.scale, frame.reference_alignment, frame.peak, frame.noise_sigma,
            int(frame.brain_mask.sum()), ce_voxels, frame.excluded_brain_voxels, valid_mask,
        )  # fmt: skip


@dataclass(frozen=True)
class EvaluationSummary:
    """Everything ``summary.json`` holds (module docstring).

    Attributes:
        cases: per case id, the frame quantities.
        methods: per method name, per case id, the :class:`ImageMetrics`.
        options: the metric parameters used.
        brain_mask_source: ``"folder"``, ``"atlas"`` or ``"head_threshold"``.
        inputs: folder paths as strings.
        not_predicted: reference case ids without a prediction (not evaluated).
        guard: per case id, the hallucination guard's metrics (cases with a ``CASE_unsupported`` map).
    """

    cases: dict[str, CaseFrameInfo]
    methods: dict[str, dict[str, ImageMetrics]]
    options: MetricOptions
    brain_mask_source: str
    inputs: dict[str, str | None] = field(default_factory=dict)
    not_predicted: tuple[str, ...] = ()
    guard: dict[str, GuardMetrics] = field(default_factory=dict)

    def case_values(self, method: str, metric: str) -> dict[str, float]:
        """``{case_id: value}`` of a case metric (psnr_i, psnr_b, ssim, mae_ce)."""
        if metric not in CASE_METRICS:
            raise ValueError(f"metric must be one of {CASE_METRICS}, got {metric!r}.")
        return {case: getattr(result, metric) for case, result in self._method(method).items()}

    def lesion_values(self, method: str, metric: str) -> dict[str, float]:
        """``{"CASE/LABEL": value}`` of a lesion metric (psnr_l, c_bar, c_hat)."""
        if metric not in LESION_METRICS:
            raise ValueError(f"metric must be one of {LESION_METRICS}, got {metric!r}.")
        return {
            f"{case}/{lesion.label}": getattr(lesion, metric)
            for case, result in self._method(method).items()
            for lesion in result.lesions
        }

    def _method(self, method: str) -> dict[str, ImageMetrics]:
        if method not in self.methods:
            raise KeyError(f"method {method!r} was not evaluated; have {sorted(self.methods)}.")
        return self.methods[method]

    def aggregates(self, method: str) -> dict[str, dict[str, float | int | None]]:
        """Mean/std/n per metric (case metrics over cases, lesion metrics over pooled lesions)."""
        result = {
            metric: aggregate(list(self.case_values(method, metric).values())) for metric in CASE_METRICS
        }
        for metric in LESION_METRICS:
            result[metric] = aggregate(list(self.lesion_values(method, metric).values()))
        return result

    def to_json_dict(self) -> dict[str, Any]:
        """The ``summary.json`` content (non-finite numbers as None)."""
        return {
            "format_version": SUMMARY_FORMAT_VERSION,
            "definitions": DEFINITIONS,
            "parameters": {**asdict(self.options), "brain_mask_source": self.brain_mask_source},
            "inputs": dict(self.inputs),
            "not_predicted": list(self.not_predicted),
            "cases": {case: _clean(asdict(info)) for case, info in self.cases.items()},
            "methods": {
                method: {
                    "cases": {case: _image_dict(result) for case, result in results.items()},
                    "aggregate": self.aggregates(method),
                }
                for method, results in self.methods.items()
            },
            **({"hallucination_guard": guard_json(self.guard)} if self.guard else {}),
        }


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {key: json_number(value) if isinstance(value, float) else value for key, value in record.items()}


def _image_dict(result: ImageMetrics) -> dict[str, Any]:
    record = _clean({metric: getattr(result, metric) for metric in (*CASE_METRICS, "intensity_alignment")})
    record["lesions"] = {
        str(lesion.label): _clean(
            {
                "voxels": lesion.voxels,
                **{m: getattr(lesion, m) for m in LESION_METRICS},
                "cnr": lesion.cnr,
            }
        )
        for lesion in result.lesions
    }
    return record
