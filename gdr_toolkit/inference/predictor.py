"""Predict one case: preprocessing, network inputs on the planned grid, fold ensemble, images in PC's geometry.

Steps of :meth:`Predictor.predict_case` (method.md section 5, documentation/inference.md):
    1. ``preprocess_case(PC, LD)`` with the options of the model's plan (the training code path);
    2. z_LD, x_LD, s_LD resampled (linear) to the plan's isotropic spacing exactly as the preprocessor
       does, cropped to the head box of the resampled x_PC;
    3. the condition vector (metadata values and sigma_LD), standardised with each fold's statistics;
    4. sliding-window inference per fold; eq. 1 reverted per fold with that fold's gamma,
       y~_k = gamma_k s_LD yhat_k / sigma_LD; ensemble y~ = mean_k y~_k, uncertainty = std_k y~_k;
    5. y~ padded back to the uncropped grid and resampled (linear) onto PC's grid;
    6. SD = (x_PC + k y~) * scale_PC and SD+ = (x_LD + k y~) * scale_PC in PC's raw units, where
       scale_PC is PC's 95th brain percentile and k the enhancement factor (1: the trained dose).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch

from gdr_toolkit.dataset.image_io import image_from_array
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.inference.model_loader import FoldModel, TrainedModel
from gdr_toolkit.inference.sliding_window import SlidingWindowOptions, sliding_window_inference
from gdr_toolkit.preprocessing.case_preprocessing import (
    INPUT_ARRAYS,
    CasePreprocessingOptions,
    CaseProperties,
    PreprocessedCase,
    preprocess_case,
)
from gdr_toolkit.preprocessing.contrast_target import revert_noise_normalisation
from gdr_toolkit.preprocessing.preprocessor import options_from_plan
from gdr_toolkit.preprocessing.resampling import crop, resample_array, to_network_grid
from gdr_toolkit.training.conditions import TOP_LEVEL_KEYS, ConditionNormalisation, raw_condition

logger = logging.getLogger(__name__)
Box = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class CasePrediction:
    """The outputs of one case, every image with PC's exact geometry (size, spacing, origin, direction).

    Attributes:
        case_id: the case.
        sd: synthetic standard dose x_PC + k y~, float32, PC's raw intensity units.
        sdplus: enhanced low dose x_LD + k y~ (LD on PC's grid, matched to PC's units), float32.
        contrast_signal: k y~, float32, PC's raw units (so sd = pre_contrast + contrast_signal).
        uncertainty: voxelwise std of k y~ across folds (PC's raw units), None with one fold.
        pre_contrast: the PC input as float32 (for the QC picture).
        low_dose: LD registered onto PC's grid in PC's raw units (for the QC picture).
        seconds: wall time of ``preprocessing``, ``network`` and ``resampling``.
    """

    case_id: str
    sd: sitk.Image
    sdplus: sitk.Image
    contrast_signal: sitk.Image
    uncertainty: sitk.Image | None
    pre_contrast: sitk.Image
    low_dose: sitk.Image
    seconds: dict[str, float]


@dataclass(frozen=True, eq=False)
class NetworkInputs:
    """The network inputs of one case on the planned grid, cropped to the head.

    Attributes:
        grid: the planned isotropic grid (PC's own grid when its spacing already matches).
        box: head box (start, stop) per axis (z, y, x) on ``grid``.
        images: float32 (C, d, h, w), channels z_LD, x_LD, s_LD in the box.
        local_std_ld: s_LD, float32 (d, h, w), in the box (reverts eq. 1).
    """

    grid: sitk.Image
    box: Box
    images: np.ndarray
    local_std_ld: np.ndarray


def network_inputs(
    arrays: dict[str, np.ndarray], pre_contrast: sitk.Image, spacing_mm: float
) -> NetworkInputs:
    """Resample the preprocessed inputs to ``spacing_mm`` and crop the head, as the preprocessor does.

    Args:
        arrays: ``PreprocessedCase.arrays`` on PC's grid (z, y, x): x_pc, z_ld, x_ld, s_ld.
        pre_contrast: PC (its grid).
        spacing_mm: the plan's isotropic spacing.
    """
    on_grid, grid, box = to_network_grid(arrays, pre_contrast, spacing_mm, INPUT_ARRAYS)
    images = crop(np.stack([on_grid[name].astype(np.float32) for name in INPUT_ARRAYS]), box)
    return NetworkInputs(grid, box, np.ascontiguousarray(images), images[INPUT_ARRAYS.index("s_ld")].copy())


def condition_vector(
    properties: CaseProperties, normalisation: ConditionNormalisation, case_id: str
) -> np.ndarray:
    """The standardised float32 (K,) condition vector of a case.

    Raises:
        ValueError: a key the model needs is missing (names the case, the key and where to give it).
    """
    record: dict[str, Any] = {"noise_sigma_ld": properties.noise_sigma_ld, "condition": properties.condition}
    missing = [
        key for key in normalisation.keys if key not in TOP_LEVEL_KEYS and key not in properties.condition
    ]
    if missing:
        raise ValueError(
            f"case {case_id!r}: the model needs condition key(s) {missing} (from the case metadata) but the "
            f"case has no metadata; put {case_id}.json in the metadata folder (--metadata DIR) or give "
            "--dose, --field-strength and --agent."
        )
    return normalisation.normalise(raw_condition(record, normalisation.keys, case_id))


def ensemble(signals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over folds and, with more than one fold, the (population) std; float32 arrays."""
    stack = np.stack(signals).astype(np.float64)
    mean = stack.mean(axis=0).astype(np.float32)
    return mean, (stack.std(axis=0).astype(np.float32) if len(signals) > 1 else None)


def to_reference_grid(cropped: np.ndarray, inputs: NetworkInputs, reference: sitk.Image) -> np.ndarray:
    """Put a (d, h, w) array back into its box (zeros elsewhere) and resample (linear) onto ``reference``."""
    full = np.zeros(sitk.GetArrayViewFromImage(inputs.grid).shape, dtype=np.float32)
    full[tuple(slice(start, stop) for start, stop in inputs.box)] = cropped
    if inputs.grid is reference:
        return full
    return resample_array(full, inputs.grid, reference, "linear")


class Predictor:
    """Predicts SD and SD+ for cases with a trained model (module docstring).

    Args:
        model: the loaded folds.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        step_size: sliding-window step as a fraction of the patch, (0, 1].
        use_mirroring: average over the 8 axis flips (test-time augmentation, 8x the network time).
        batch_size: patches per forward pass.
        enhancement_factor: k in x + k y~ (1: the trained standard dose; > 1 exaggerates the contrast).
        use_autocast: mixed precision on CUDA.
    """

    def __init__(
        self,
        model: TrainedModel,
        device: torch.device | str = "cpu",
        step_size: float = 0.5,
        use_mirroring: bool = True,
        batch_size: int = 1,
        enhancement_factor: float = 1.0,
        use_autocast: bool = True,
    ) -> None:
        if not np.isfinite(enhancement_factor) or enhancement_factor < 0:
            raise ValueError(f"enhancement_factor must be a finite number >= 0, got {enhancement_factor}.")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.enhancement_factor = float(enhancement_factor)
        self.window = SlidingWindowOptions(
            patch_size=model.configuration.patch_size,
            step_size=step_size,
            batch_size=batch_size,
            use_mirroring=use_mirroring,
            use_autocast=use_autocast,
        )

    @property
    def preprocessing_options(self) -> CasePreprocessingOptions:
        """The per-case preprocessing options of the model's plan (identical to training)."""
        return options_from_plan(self.model.configuration)

    def preprocess(
        self, pre_contrast: sitk.Image, low_dose: sitk.Image, metadata: CaseMetadata | None
    ) -> PreprocessedCase:
        """``preprocess_case`` without SD, with the plan's options."""
        return preprocess_case(pre_contrast, low_dose, None, metadata, self.preprocessing_options)

    def predict_case(
        self,
        pre_contrast: sitk.Image,
        low_dose: sitk.Image,
        metadata: CaseMetadata | None,
        case_id: str,
    ) -> CasePrediction:
        """Preprocess and predict one case.

        Args:
            pre_contrast: PC scan, any SimpleITK geometry; the outputs take its grid.
            low_dose: LD scan, any grid (registered to PC).
            metadata: the case's metadata, required when the model's condition keys include
                dose_fraction, field_strength_t or relaxivity.
            case_id: named in log and error messages.
        """
        self.check_metadata(metadata, case_id)
        start = time.perf_counter()
        preprocessed = self.preprocess(pre_contrast, low_dose, metadata)
        return self.predict_preprocessed(preprocessed, pre_contrast, case_id, time.perf_counter() - start)

    def predict_preprocessed(
        self,
        case: PreprocessedCase,
        pre_contrast: sitk.Image,
        case_id: str,
        preprocessing_seconds: float = 0.0,
    ) -> CasePrediction:
        """Steps 2-6 of the module docstring on an already preprocessed case (PC's grid)."""
        start = time.perf_counter()
        inputs = network_inputs(case.arrays, pre_contrast, self.model.configuration.spacing_mm)
        image = torch.from_numpy(inputs.images)
        signals = []
        for fold in self.model.folds:
            condition = torch.from_numpy(
                condition_vector(case.properties, fold.condition_normalisation, case_id)
            )
            yhat = self._predict_fold(fold, image, condition)
            signals.append(
                revert_noise_normalisation(
                    yhat,
                    inputs.local_std_ld,
                    case.properties.noise_sigma_ld,
                    fold.gamma,
                    self.model.noise_normalised,
                )
            )
        signal, spread = ensemble(signals)
        network_seconds = time.perf_counter() - start
        start = time.perf_counter()
        prediction = self._compose(case, pre_contrast, inputs, signal, spread, case_id)
        seconds = {
            "preprocessing": round(preprocessing_seconds, 3),
            "network": round(network_seconds, 3),
            "resampling": round(time.perf_counter() - start, 3),
        }
        logger.info("%s: predicted with %d fold(s), %s", case_id, len(self.model.folds), seconds)
        return CasePrediction(**{**prediction, "seconds": seconds})

    def check_metadata(self, metadata: CaseMetadata | None, case_id: str) -> None:
        """Fail before the slow preprocessing when metadata the model needs is absent."""
        needed = [key for key in self.model.condition_keys if key not in TOP_LEVEL_KEYS]
        if needed and metadata is None:
            raise ValueError(
                f"case {case_id!r}: the model needs condition key(s) {needed} (from the case metadata) but the "
                f"case has no metadata; put {case_id}.json in the metadata folder (--metadata DIR) or give "
                "--dose, --field-strength and --agent."
            )

    def _predict_fold(self, fold: FoldModel, image: torch.Tensor, condition: torch.Tensor) -> np.ndarray:
        """yhat of one fold, float32 (d, h, w) in units of z_SD (the first output channel)."""
        output = sliding_window_inference(fold.network, image, condition, self.window, self.device)
        return output[0].numpy()

    def _compose(
        self,
        case: PreprocessedCase,
        pre_contrast: sitk.Image,
        inputs: NetworkInputs,
        signal: np.ndarray,
        spread: np.ndarray | None,
        case_id: str,
    ) -> dict[str, Any]:
        """Step 5-6: images in PC's grid and raw units."""
        scale = case.properties.intensity_scales["pre_contrast"]
        contrast = self.enhancement_factor * to_reference_grid(signal, inputs, pre_contrast)
        with np.errstate(all="raise", under="ignore"):
            raw = {
                "sd": (case.arrays["x_pc"] + contrast) * scale,
                "sdplus": (case.arrays["x_ld"] + contrast) * scale,
                "contrast_signal": contrast * scale,
                "low_dose": case.arrays["x_ld"] * scale,
            }
            if spread is not None:
                raw["uncertainty"] = (
                    self.enhancement_factor * to_reference_grid(spread, inputs, pre_contrast) * scale
                )
        images = {
            name: image_from_array(array.astype(np.float32), pre_contrast) for name, array in raw.items()
        }
        images["pre_contrast"] = image_from_array(
            sitk.GetArrayFromImage(pre_contrast).astype(np.float32), pre_contrast
        )
        return {"case_id": case_id, "uncertainty": images.pop("uncertainty", None), **images}


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps`` as a torch device, refusing one that is not available."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"-device must be cpu, cuda, cuda:N or mps, got {name!r}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("-device cuda was requested but CUDA is not available; use -device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("-device mps was requested but MPS is not available; use -device cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"-device must be cpu, cuda, cuda:N or mps, got {name!r}")
    return device
