"""Predict one case: preprocessing, network inputs on the planned grid, fold ensemble, images in PC's geometry.

Steps of :meth:`Predictor.predict_case` (documentation/method.md section 5, documentation/inference.md):
    1. ``preprocess_case(PC, LD)`` with the options of the model's plan (the training code path);
    2. the model's input channels (z_LD, x_LD, s_LD; x_PC, x_LD for direct regression) resampled (linear)
       to the plan's spacing exactly as the preprocessor does, cropped to the head box of the resampled x_PC;
    3. the condition vector (metadata values and sigma_LD), standardised with each fold's statistics;
    4. sliding-window inference per fold; for contrast-signal models eq. 1 is reverted per fold with that
       fold's gamma, y~_k = gamma_k s_LD yhat_k / sigma_LD (standard-dose models: the x_SD prediction as
       is); ensemble = mean over folds, uncertainty = std over folds;
    5. the ensemble padded back to the uncropped grid (contrast signal: 0 outside the head box; x_SD:
       x_PC there) and resampled (linear) onto PC's grid;
    6. SD, SD+ (contrast-signal models only) and the contrast in PC's raw units
       (``output_composition``): SD = (x_PC + k y~) * scale_PC, SD+ = (x_LD + k y~) * scale_PC, where
       scale_PC is PC's 95th brain percentile and k the enhancement factor (1: the trained dose);
       outside LD's field of view (the case's valid mask) contrast = 0, SD = PC and SD+ = SD;
    7. the data check (``case_quality.assess_case``): a warning naming the case when > 1 % of its brain
       lies outside LD's field of view or a co-registration failed preprocessing's quality check;
    8. the out-of-distribution check (``distribution_check.check_distribution``): a warning per quantity
       of the case outside the range of the model's training cases.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
import torch

from gdr_toolkit.dataset.image_io import image_from_array
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.inference.case_guard import guard_case
from gdr_toolkit.inference.case_quality import CaseQuality, assess_case
from gdr_toolkit.inference.distribution_check import DistributionCheck, check_distribution
from gdr_toolkit.inference.model_loader import FoldModel, TrainedModel
from gdr_toolkit.inference.output_composition import COMPOSERS, as_images
from gdr_toolkit.inference.sliding_window import (
    SlidingWindowOptions,
    inference_tile,
    sliding_window_inference,
)
from gdr_toolkit.model.conditions import TOP_LEVEL_KEYS, ConditionNormalisation, raw_condition
from gdr_toolkit.network.denormals import flush_denormals
from gdr_toolkit.network.precision import inference_precision
from gdr_toolkit.preprocessing.case_preprocessing import (
    INPUT_ARRAYS,
    CasePreprocessingOptions,
    CaseProperties,
    PreprocessedCase,
    preprocess_case,
)
from gdr_toolkit.preprocessing.contrast_target import revert_noise_normalisation
from gdr_toolkit.preprocessing.network_noise import on_network_grid_noise
from gdr_toolkit.preprocessing.preprocessor import options_from_plan
from gdr_toolkit.preprocessing.resampling import crop, resample_array, to_network_grid

logger = logging.getLogger(__name__)

CPU_TILE_EDGE = 128  # voxels; the CPU default of ``tile_edge`` (documentation/inference.md, Tiles)


def default_tile_edge(device: torch.device) -> int | None:
    """``tile_edge="auto"``: tiles of up to ``CPU_TILE_EDGE`` voxels on a CPU (compute-bound: fewer
    overlapping passes are faster), the training patch elsewhere (GPU memory decides)."""
    return CPU_TILE_EDGE if device.type == "cpu" else None


Box = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class CasePrediction:
    """The outputs of one case, every image with PC's exact geometry (size, spacing, origin, direction).

    Attributes:
        case_id: the case.
        sd: synthetic standard dose x_PC + k y~, float32, PC's raw intensity units.
        sdplus: enhanced low dose x_LD + k y~ (LD on PC's grid, matched to PC's units), float32; None for
            standard-dose (direct-regression) models, which predict no contrast signal to add to LD.
        contrast_signal: k y~, float32, PC's raw units (so sd = pre_contrast + contrast_signal).
        uncertainty: voxelwise std of k y~ across folds (PC's raw units), None with one fold.
        pre_contrast: the PC input as float32 (for the QC picture).
        low_dose: LD registered onto PC's grid in PC's raw units (for the QC picture).
        seconds: wall time of ``preprocessing``, ``network`` and ``resampling``.
        unsupported: uint8 hallucination-guard map, per predicted region 0 not judged, 1 supported,
            2 unsupported by the low dose (``inference/case_guard.py``), or None.
        summary: the per-case summary (condition values, sigma_LD, the guard's numbers, the sliding-window
            tile (D, H, W) on the network grid), JSON-ready.
        valid_mask: uint8 0/1 on PC's grid, 1 where LD has data; None when the case has no valid mask.
        quality: LD coverage and registration check of the case (warnings, flag), or None.
        distribution: the out-of-distribution check against the model's training ranges, or None.
    """

    case_id: str
    sd: sitk.Image
    sdplus: sitk.Image | None
    contrast_signal: sitk.Image
    uncertainty: sitk.Image | None
    pre_contrast: sitk.Image
    low_dose: sitk.Image
    seconds: dict[str, float]
    unsupported: sitk.Image | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    valid_mask: sitk.Image | None = None
    quality: CaseQuality | None = None
    distribution: DistributionCheck | None = None


@dataclass(frozen=True, eq=False)
class NetworkInputs:
    """The network inputs of one case on the planned grid, cropped to the head.

    Attributes:
        grid: the planned isotropic grid (PC's own grid when its spacing already matches).
        box: head box (start, stop) per axis (z, y, x) on ``grid``.
        images: float32 (C, d, h, w), the model's input channels in the box.
        local_std_ld: s_LD, float32 (d, h, w), in the box (reverts eq. 1).
        pre_contrast_on_grid: x_PC, float32 (D, H, W) on the whole (uncropped) ``grid``.
    """

    grid: sitk.Image
    box: Box
    images: np.ndarray
    local_std_ld: np.ndarray
    pre_contrast_on_grid: np.ndarray


def network_inputs(
    arrays: dict[str, np.ndarray],
    pre_contrast: sitk.Image,
    spacing_mm: float,
    channel_names: tuple[str, ...] = INPUT_ARRAYS,
) -> NetworkInputs:
    """Resample the preprocessed inputs to ``spacing_mm`` and crop the head, as the preprocessor does.

    Args:
        arrays: ``PreprocessedCase.arrays`` on PC's grid (z, y, x): x_pc, z_ld, x_ld, s_ld.
        pre_contrast: PC (its grid).
        spacing_mm: the plan's isotropic spacing.
        channel_names: the network's input channels, in order (the model's ``input_channel_names``).
    """
    names = tuple(dict.fromkeys((*channel_names, "s_ld", "x_pc")))
    on_grid, grid, box = to_network_grid(arrays, pre_contrast, spacing_mm, names)
    images = crop(np.stack([on_grid[name].astype(np.float32) for name in channel_names]), box)
    local_std = crop(on_grid["s_ld"].astype(np.float32), box)
    return NetworkInputs(
        grid,
        box,
        np.ascontiguousarray(images),
        np.ascontiguousarray(local_std),
        on_grid["x_pc"].astype(np.float32),
    )


def missing_metadata_message(case_id: str, keys: list[str]) -> str:
    """The error text for a case without the metadata the model needs (names the ways to give it)."""
    return (
        f"case {case_id!r}: the model needs condition key(s) {keys} (from the case metadata) but the "
        f"case has no metadata; put {case_id}.json in the metadata folder (--metadata DIR) or give "
        "--dose, --field-strength and --agent."
    )


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
        raise ValueError(missing_metadata_message(case_id, missing))
    return normalisation.normalise(raw_condition(record, normalisation.keys, case_id))


def ensemble(signals: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over folds and, with more than one fold, the (population) std; float32 arrays."""
    stack = np.stack(signals).astype(np.float64)
    mean = stack.mean(axis=0).astype(np.float32)
    return mean, (stack.std(axis=0).astype(np.float32) if len(signals) > 1 else None)


def to_reference_grid(
    cropped: np.ndarray, inputs: NetworkInputs, reference: sitk.Image, background: np.ndarray | None = None
) -> np.ndarray:
    """Put a (d, h, w) array back into its box and resample (linear) onto ``reference``.

    Outside the box the values are ``background`` (an array on the uncropped grid), or zeros.
    """
    shape = sitk.GetArrayViewFromImage(inputs.grid).shape
    full = np.zeros(shape, dtype=np.float32) if background is None else background.astype(np.float32)
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
        batch_size: patches per forward pass (2: on CPU 2.2-2.8x faster per volume than 1,
            documentation/benchmarks.md; the edge of the volume may hold a batch of 1).
        enhancement_factor: k in x + k y~ (1: the trained standard dose; > 1 exaggerates the contrast).
        use_autocast: False forces float32 (else ``precision`` decides).
        precision: ``auto`` (the checkpoint's training precision where the device runs it natively,
            float32 on CPU/MPS; ``network.precision.inference_precision``), ``bf16``, ``fp16`` or ``fp32``.
        tile_edge: largest edge (voxels) of the sliding-window tile, which grows from the training patch
            towards the whole volume (``sliding_window.inference_tile``); None: the training patch;
            ``"auto"``: :func:`default_tile_edge`.
    """

    def __init__(
        self,
        model: TrainedModel,
        device: torch.device | str = "cpu",
        step_size: float = 0.5,
        use_mirroring: bool = True,
        batch_size: int = 2,
        enhancement_factor: float = 1.0,
        use_autocast: bool = True,
        precision: str = "auto",
        tile_edge: int | None | Literal["auto"] = "auto",
    ) -> None:
        if not np.isfinite(enhancement_factor) or enhancement_factor < 0:
            raise ValueError(f"enhancement_factor must be a finite number >= 0, got {enhancement_factor}.")
        self.device = torch.device(device)
        flush_denormals()  # network/denormals.py
        self.model = model.to(self.device)
        self.enhancement_factor = float(enhancement_factor)
        self.window = SlidingWindowOptions(
            patch_size=model.configuration.patch_size,
            step_size=step_size,
            batch_size=batch_size,
            use_mirroring=use_mirroring,
            use_autocast=use_autocast,
            precision=inference_precision(precision, model.precision, self.device),
        )
        self.tile_edge = default_tile_edge(self.device) if tile_edge == "auto" else tile_edge
        if self.tile_edge is not None and self.tile_edge < 1:
            raise ValueError(
                f"tile_edge must be >= 1 voxel or None (the training patch), got {self.tile_edge}."
            )
        logger.info("predicting on %s in %s", self.device, self.window.precision.name)

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
        spacing, channels = self.model.configuration.spacing_mm, self.model.prediction.input_channel_names
        estimator = self.preprocessing_options.noise.estimator
        case = on_network_grid_noise(case, pre_contrast, spacing, estimator)  # sigma_LD, s_LD as trained
        inputs = network_inputs(case.arrays, pre_contrast, spacing, channels)
        image = torch.from_numpy(inputs.images)
        window = self.window_for(tuple(image.shape[1:]))
        signal, spread = ensemble(
            [self._fold_output(fold, image, window, inputs, case, case_id) for fold in self.model.folds]
        )
        network_seconds = time.perf_counter() - start
        start = time.perf_counter()
        prediction = self._compose(case, pre_contrast, inputs, signal, spread, case_id)
        seconds = {
            "preprocessing": round(preprocessing_seconds, 3),
            "network": round(network_seconds, 3),
            "resampling": round(time.perf_counter() - start, 3),
        }
        logger.info("%s: predicted with %d fold(s), %s", case_id, len(self.model.folds), seconds)
        quality = assess_case(case, case_id)
        distribution = check_distribution(case, self.model.training_ranges, case_id)
        prediction["summary"] = {
            **prediction["summary"],
            "sliding_window_tile": list(window.patch_size),
            **distribution.summary_entries(),
        }
        extras = {"seconds": seconds, "quality": quality, "distribution": distribution}
        return CasePrediction(**{**prediction, **extras})

    def check_metadata(self, metadata: CaseMetadata | None, case_id: str) -> None:
        """Fail before the slow preprocessing when metadata the model needs is absent."""
        needed = [key for key in self.model.condition_keys if key not in TOP_LEVEL_KEYS]
        if needed and metadata is None:
            raise ValueError(missing_metadata_message(case_id, needed))

    def _fold_output(
        self,
        fold: FoldModel,
        image: torch.Tensor,
        window: SlidingWindowOptions,
        inputs: NetworkInputs,
        case: PreprocessedCase,
        case_id: str,
    ) -> np.ndarray:
        """One fold's float32 (d, h, w) output with the case's ``window``: y~ (eq. 1 reverted) or the x_SD
        prediction as is."""
        condition = torch.from_numpy(condition_vector(case.properties, fold.condition_normalisation, case_id))
        output = sliding_window_inference(fold.network, image, condition, window, self.device)[0].numpy()
        if self.model.prediction.prediction_target == "standard_dose":
            return output
        return revert_noise_normalisation(
            output,
            inputs.local_std_ld,
            case.properties.noise_sigma_ld,
            fold.gamma,
            self.model.noise_normalised,
        )

    def window_for(self, shape: tuple[int, ...]) -> SlidingWindowOptions:
        """The sliding-window options for a network-grid volume of ``shape`` (D, H, W): its tile."""
        if self.tile_edge is None:
            return self.window
        divisor = 2 ** (len(self.model.configuration.network["widths"]) - 1)
        tile = inference_tile(shape, self.window.patch_size, divisor, self.tile_edge)
        return replace(self.window, patch_size=tile)

    def _compose(
        self,
        case: PreprocessedCase,
        pre_contrast: sitk.Image,
        inputs: NetworkInputs,
        signal: np.ndarray,
        spread: np.ndarray | None,
        case_id: str,
    ) -> dict[str, Any]:
        """Steps 5-6: the ensemble on PC's grid, then the images the prediction target defines."""
        target = self.model.prediction.prediction_target
        background = inputs.pre_contrast_on_grid if target == "standard_dose" else None
        on_pc = to_reference_grid(signal, inputs, pre_contrast, background)
        spread_on_pc = None if spread is None else to_reference_grid(spread, inputs, pre_contrast)
        arrays = COMPOSERS[target](case, on_pc, spread_on_pc, self.enhancement_factor, case_id)
        contrast = arrays["contrast_signal"]
        assert contrast is not None, "every composer returns a contrast signal"
        guard = guard_case(case, contrast, self.enhancement_factor, case_id)
        unsupported = image_from_array(guard.states, pre_contrast)
        images = as_images(arrays, case, pre_contrast)
        return {"case_id": case_id, **images, "unsupported": unsupported, "summary": guard.summary}


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
