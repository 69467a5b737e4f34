"""Evaluate folders of predictions against standard-dose references (``gdr_evaluate``).

File matching by case id (``ending`` = ``.nii.gz`` by default):

| role | file |
|---|---|
| prediction | ``PRED/CASE<suffix><ending>`` (``CASE_sd``, ``CASE_sdplus``) |
| reference x_SD | ``REF/CASE<ending>`` (a raw ``targetsTs`` folder) |
| pre-contrast x_PC | ``PC/CASE_0000<ending>``; the low-dose baseline x_LD is ``PC/CASE_0001<ending>`` |
| lesion labels | ``LES/CASE<ending>`` (0 background, one positive integer per lesion) |
| brain mask | ``MASK/CASE<ending>`` (non-zero = brain) |
| guard map | ``PRED/CASE_unsupported<ending>`` (optional; measured against x_SD, ``guard_evaluation``) |
| valid-data mask | ``PRED/CASE_valid_mask<ending>`` (written by the predictor) and/or ``VALID/CASE<ending>`` |

The evaluated cases are those with a file for the first suffix in PRED. A further suffix without a single
file in PRED is left out with a warning (a direct-regression model writes no ``CASE_sdplus``); one present
for some cases only is an error for the others. Every image must lie on the
reference's grid (size, spacing, origin, direction): a mismatch is an error naming both files, unless
``coregister_acquired_scans`` asks to rigidly register x_SD and x_LD to x_PC and resample them onto its
grid first (raw scans of one session are usually not aligned voxel by voxel). Without a brain mask
folder a mask is derived from x_PC: ``"atlas"`` (affine MNI152 registration, as the preprocessing; tens
of seconds per case) or ``"head_threshold"`` (x_PC > Otsu threshold, largest connected component, holes
filled: the *head*, so PSNR_B then covers scalp and skull too).

Valid-data masks (non-zero = the scans have data there): the predictor writes ``CASE_valid_mask`` beside
the predictions of a case whose low dose does not cover PC's whole field of view; with
``use_prediction_valid_masks`` (default) it is used, and a valid-mask folder (``-valid``) adds its
``CASE<ending>`` (both: their intersection). A case without either file is valid everywhere. Metrics are
then restricted to brain & valid (``case_evaluation``, step 5). With ``coregister_acquired_scans`` the
reference's own field of view on PC's grid (a slab that misses part of the head) is intersected too.
Reading a case's images onto the grid (grid checks, masks, co-registration) is ``case_images``' job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.evaluation.case_evaluation import (
    EvaluationFrame,
    ImageMetrics,
    MetricOptions,
    build_frame,
    evaluate_image,
)
from gdr_toolkit.evaluation.case_images import (
    BrainMaskRule,
    EvaluationFolders,
    acquired_on_grid,
    brain_mask,
    read_on_grid,
    valid_mask,
)
from gdr_toolkit.evaluation.derived_cache import DerivedImageCache
from gdr_toolkit.evaluation.guard_evaluation import GUARD_SUFFIX, GuardMetrics, evaluate_guard
from gdr_toolkit.evaluation.summary import LOW_DOSE_METHOD, CaseFrameInfo, EvaluationSummary

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderEvaluationOptions:
    """Options of :func:`evaluate_predictions`.

    Attributes:
        metrics: metric parameters.
        brain_mask_rule: how to derive a brain mask when no mask folder is given.
        include_low_dose: also evaluate x_LD (``PC/CASE_0001``) as the trivial baseline (needs x_PC).
        coregister_acquired_scans: rigidly register x_SD and x_LD to x_PC first (needs x_PC).
        file_ending: image file name ending.
        use_prediction_valid_masks: restrict the metrics to ``PRED/CASE_valid_mask<ending>`` where it exists.
    """

    metrics: MetricOptions = MetricOptions()
    brain_mask_rule: BrainMaskRule = "atlas"
    include_low_dose: bool = False
    coregister_acquired_scans: bool = False
    file_ending: str = ".nii.gz"
    use_prediction_valid_masks: bool = True

    def __post_init__(self) -> None:
        if self.brain_mask_rule not in ("atlas", "head_threshold"):
            raise ValueError(
                f"brain_mask_rule must be 'atlas' or 'head_threshold', got {self.brain_mask_rule!r}."
            )


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float64)


def method_name(suffix: str) -> str:
    """``"_sd"`` -> ``"sd"``: the name a prediction suffix gets in the summary."""
    name = suffix.lstrip("_")
    if not name or name == LOW_DOSE_METHOD:
        raise ValueError(f"prediction suffix {suffix!r} is empty or reserved for the low-dose baseline.")
    return name


def _evaluate_case(
    case_id: str, folders: EvaluationFolders, suffixes: tuple[str, ...], options: FolderEvaluationOptions
) -> tuple[CaseFrameInfo, dict[str, ImageMetrics], GuardMetrics | None]:
    ending = options.file_ending
    first_prediction_path = folders.prediction / f"{case_id}{suffixes[0]}{ending}"
    grid_path = first_prediction_path
    pre_contrast = None
    if folders.pre_contrast is not None:
        grid_path = folders.pre_contrast / f"{case_id}_0000{ending}"
        pre_contrast = read_image(grid_path)
    grid = pre_contrast if pre_contrast is not None else read_image(first_prediction_path)
    brain = brain_mask(case_id, folders, grid, grid_path, ending, options.brain_mask_rule)
    reference_path = folders.reference / f"{case_id}{ending}"
    coregister = options.coregister_acquired_scans
    reference, reference_fov = acquired_on_grid(reference_path, grid, grid_path, brain, folders, coregister)
    if not options.coregister_acquired_scans:
        grid, grid_path = reference, reference_path  # name the reference in later mismatch errors
    lesions = None
    if folders.lesions is not None:
        lesions = sitk.GetArrayFromImage(
            read_on_grid(folders.lesions / f"{case_id}{ending}", grid, grid_path)
        )
    pc_array = None if pre_contrast is None else _array(pre_contrast)
    valid, valid_name = valid_mask(
        case_id, folders, grid, grid_path, ending, options.use_prediction_valid_masks
    )
    if reference_fov is not None and not reference_fov.all():  # a reference slab missing part of the head
        valid = reference_fov if valid is None else valid & reference_fov
        valid_name = ", ".join(filter(None, [valid_name, "the reference's field of view"]))
    brain_array = sitk.GetArrayFromImage(brain.mask) > 0
    frame = build_frame(_array(reference), pc_array, brain_array, options.metrics, valid)
    results = {}
    for suffix in suffixes:
        prediction = read_on_grid(folders.prediction / f"{case_id}{suffix}{ending}", grid, grid_path)
        results[method_name(suffix)] = evaluate_image(_array(prediction), frame, lesions, options.metrics)
    if options.include_low_dose:
        low_dose_path = folders.pre_contrast / f"{case_id}_0001{ending}"  # type: ignore[operator]
        low_dose, _ = acquired_on_grid(low_dose_path, grid, grid_path, brain, folders, coregister)
        results[LOW_DOSE_METHOD] = evaluate_image(
            _array(low_dose), frame, lesions, options.metrics, acquired=True
        )
    guard = _guard(
        folders.prediction / f"{case_id}{GUARD_SUFFIX}{ending}",
        first_prediction_path,
        frame,
        grid,
        grid_path,
        options,
    )
    return CaseFrameInfo.from_frame(frame, valid_name), results, guard


def _guard(
    path: Path,
    prediction_path: Path,
    frame: EvaluationFrame,
    grid: sitk.Image,
    grid_path: Path,
    options: FolderEvaluationOptions,
) -> GuardMetrics | None:
    """The guard's metrics when the prediction folder holds the case's guard map and x_PC is given."""
    if not path.is_file() or frame.ce_mask is None:
        return None
    guard_map = sitk.GetArrayFromImage(read_on_grid(path, grid, grid_path))
    prediction = _array(read_on_grid(prediction_path, grid, grid_path))
    voxel_ml = float(np.prod(grid.GetSpacing())) / 1000.0
    return evaluate_guard(guard_map, prediction, frame, voxel_ml, options.metrics.ce_threshold_sigmas)


def _require_folder(folder: Path | str | None, role: str) -> Path | None:
    if folder is None:
        return None
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"{role} folder {path} does not exist.")
    return path


def evaluate_predictions(
    reference_folder: Path | str,
    prediction_folder: Path | str,
    pre_contrast_folder: Path | str | None = None,
    lesion_folder: Path | str | None = None,
    brain_mask_folder: Path | str | None = None,
    suffix: str | tuple[str, ...] = "_sd",
    options: FolderEvaluationOptions = FolderEvaluationOptions(),
    on_case_done: Callable[[str], None] | None = None,
    valid_mask_folder: Path | str | None = None,
    cache_folder: Path | str | None = None,
) -> EvaluationSummary:
    """Evaluate every prediction in ``prediction_folder`` (file matching: module docstring).

    Args:
        reference_folder: x_SD files ``CASE<ending>``.
        prediction_folder: ``CASE<suffix><ending>`` files.
        pre_contrast_folder: ``CASE_0000<ending>`` (x_PC) and ``CASE_0001<ending>`` (x_LD); needed for
            alignment, MAE_CE, c_bar/c_hat, mask derivation and the low-dose baseline.
        lesion_folder: lesion label maps (PSNR_L, c_bar, c_hat), or None.
        brain_mask_folder: brain masks, or None to derive them (``options.brain_mask_rule``).
        suffix: one prediction suffix or several (e.g. ``("_sd", "_sdplus")``), each a method.
        options: :class:`FolderEvaluationOptions`.
        on_case_done: called with each case id when it is finished (progress bars).
        valid_mask_folder: valid-data masks ``CASE<ending>`` (non-zero = valid), or None (module docstring).
        cache_folder: where derived brain masks and co-registered x_SD / x_LD are kept and reused across
            evaluations of the same test cases (``derived_cache``), or None to compute them every time.

    Raises:
        FileNotFoundError: a folder or a matching file is missing (the message names it).
        ValueError: grids differ (both files named), unreadable images, bad options.
    """
    suffixes = (suffix,) if isinstance(suffix, str) else tuple(suffix)
    if not suffixes:
        raise ValueError("at least one prediction suffix is required.")
    [method_name(item) for item in suffixes]  # validate early
    folders = EvaluationFolders(
        _require_folder(reference_folder, "reference"),  # type: ignore[arg-type]
        _require_folder(prediction_folder, "prediction"),  # type: ignore[arg-type]
        _require_folder(pre_contrast_folder, "pre-contrast"),
        _require_folder(lesion_folder, "lesion"),
        _require_folder(brain_mask_folder, "brain mask"),
        _require_folder(valid_mask_folder, "valid mask"),
        DerivedImageCache(None if cache_folder is None else Path(cache_folder)),
    )
    if folders.pre_contrast is None and (options.include_low_dose or options.coregister_acquired_scans):
        raise ValueError("the low-dose baseline and co-registration need the pre-contrast folder (-pc).")
    if folders.pre_contrast is None and folders.brain_masks is None and options.brain_mask_rule == "atlas":
        logger.warning("no pre-contrast folder: the atlas mask is registered to the prediction instead")
    case_ids = _predicted_cases(folders.prediction, suffixes[0] + options.file_ending)
    if not case_ids:
        raise FileNotFoundError(
            f"no prediction file *{suffixes[0]}{options.file_ending} in {folders.prediction}."
        )
    suffixes = _present_suffixes(folders.prediction, suffixes, options.file_ending)
    cases: dict[str, CaseFrameInfo] = {}
    methods: dict[str, dict[str, ImageMetrics]] = {}
    guard: dict[str, GuardMetrics | None] = {}
    for case_id in case_ids:
        cases[case_id], results, guard[case_id] = _evaluate_case(case_id, folders, suffixes, options)
        for name, result in results.items():
            methods.setdefault(name, {})[case_id] = result
        if on_case_done is not None:
            on_case_done(case_id)
    referenced = _predicted_cases(folders.reference, options.file_ending)
    return EvaluationSummary(
        cases=cases,
        methods=methods,
        options=options.metrics,
        brain_mask_source="folder" if folders.brain_masks is not None else options.brain_mask_rule,
        inputs={
            key: None if value is None else str(value)
            for key, value in vars(folders).items()
            if key != "cache"
        },
        not_predicted=tuple(sorted(set(referenced) - set(case_ids))),
        guard={case: metrics for case, metrics in guard.items() if metrics is not None},
    )


def _present_suffixes(folder: Path, suffixes: tuple[str, ...], ending: str) -> tuple[str, ...]:
    """The first suffix and every further one with at least one file in ``folder`` (warning for the rest)."""
    present = [suffixes[0]]
    for suffix in suffixes[1:]:
        if _predicted_cases(folder, suffix + ending):
            present.append(suffix)
        else:
            logger.warning(
                "no prediction file *%s%s in %s (a direct-regression model writes no SD+); %s not evaluated",
                suffix, ending, folder, method_name(suffix),
            )  # fmt: skip
    return tuple(present)


def _predicted_cases(folder: Path, ending: str) -> list[str]:
    return sorted(
        path.name[: -len(ending)]
        for path in folder.iterdir()
        if path.name.endswith(ending) and not path.name.startswith(".") and len(path.name) > len(ending)
    )
