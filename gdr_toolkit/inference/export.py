"""Writing a case's predictions: NIfTI images or DICOM series (atomically) and a QC picture.

Files per case in the output folder (``CASE`` = case id; with ``output_format="dicom"`` each image is a
folder ``CASE_sd/`` ... holding a DICOM series derived from PC's, documentation/dicom.md):
    CASE_sd.nii.gz           synthetic standard dose (PC's geometry and raw units)
    CASE_sdplus.nii.gz       enhanced low dose (contrast-signal models only: a direct-regression model
                             predicts SD itself and has no contrast signal to add to LD)
    CASE_contrast.nii.gz     contrast signal (optional; SD - PC for direct-regression models)
    CASE_uncertainty.nii.gz  std of the contrast signal across folds (optional, needs > 1 fold)
    CASE_unsupported.nii.gz  uint8 hallucination guard, per predicted region 0 not judged, 1 supported,
                             2 unsupported by the low dose (``inference/hallucination_guard.py``)
    CASE_summary.json        condition values, sigma_LD, the guard's numbers, wall times, and the data
                             check: brain fraction outside LD's field of view, registration quality,
                             flag and warnings (``case_quality.py``)
    CASE_report.html         one-page report (``inference/case_report.py``), with the QC picture
    CASE_qc.png              PC, LD, SD, SD+ (when present) and contrast in three planes through the
                             strongest enhancement
    CASE_valid_mask.nii.gz   uint8, 1 where LD has data (PC's geometry); only when some voxel has none
"""

from __future__ import annotations

import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402

from gdr_toolkit.dataset.dicom_derived_series import Provenance, SeriesSources  # noqa: E402
from gdr_toolkit.dataset.dicom_headers import read_series_headers  # noqa: E402
from gdr_toolkit.dataset.dicom_io import DerivedSeries, dicom_tags, write_dicom_series  # noqa: E402
from gdr_toolkit.dataset.image_io import write_image_atomic  # noqa: E402
from gdr_toolkit.file_io import atomic_path, write_json_atomic  # noqa: E402
from gdr_toolkit.inference.case_quality import CaseQuality, write_valid_mask  # noqa: E402
from gdr_toolkit.inference.case_report import (  # noqa: E402
    anatomy_window,
    contrast_window,
    report_html,
)
from gdr_toolkit.inference.predictor import CasePrediction  # noqa: E402

logger = logging.getLogger(__name__)
IMAGE_ENDING = ".nii.gz"
QC_ORIENTATION = "LPS"  # array (z, y, x) = (inferior->superior, anterior->posterior, right->left)
OutputFormat = Literal["nifti", "dicom"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("nifti", "dicom")
# DICOM series per kind: a short SeriesDescription (<= 64 characters, says the series is synthetic);
# SeriesNumber = PC's + ExportOptions.dicom_series_offset + the kind's place in this order.
DICOM_SERIES = {
    "sd": DerivedSeries("SYNTHETIC SD (gdr_toolkit) - not for diagnosis"),
    "sdplus": DerivedSeries("SYNTHETIC SD+ (gdr_toolkit) - not for diagnosis"),
    "contrast": DerivedSeries("SYNTHETIC CONTRAST SIGNAL (gdr_toolkit) - not for diagnosis"),
    "uncertainty": DerivedSeries("UNCERTAINTY OF SYNTHETIC SD (gdr_toolkit) - not for diagnosis"),
    "unsupported": DerivedSeries("SYNTHETIC UNSUPPORTED MAP (gdr_toolkit) - not for diagnosis"),
}
DEFAULT_DICOM_SERIES_OFFSET = 1000
PC_SERIES_NUMBER_KEY = "0020|0011"
#: output images written at once: SimpleITK's writers release the GIL, so gzip runs on several cores
#: while this thread draws the QC picture and the report
IMAGE_WRITER_THREADS = 4


@dataclass(frozen=True)
class ExportOptions:
    """Which files to write.

    Attributes:
        save_contrast_signal: write ``CASE_contrast.nii.gz``.
        save_uncertainty: write ``CASE_uncertainty.nii.gz`` (only when the prediction has one).
        save_qc_picture: write ``CASE_qc.png`` and ``CASE_report.html``.
        output_format: ``nifti`` (``CASE_sd.nii.gz`` ...) or ``dicom`` (series folders ``CASE_sd/`` ...).
        dicom_series_offset: SeriesNumber of the DICOM SD series minus PC's (>= 1; the other series
            follow: SD+ +1, contrast +2, uncertainty +3, unsupported map +4).
        dicom_burned_in_banner: burn "SYNTHETIC - NOT FOR DIAGNOSIS" into every slice of the DICOM
            image series (not into the 0/1 unsupported map, whose pixels are data).
    """

    save_contrast_signal: bool = False
    save_uncertainty: bool = False
    save_qc_picture: bool = True
    output_format: OutputFormat = "nifti"
    dicom_series_offset: int = DEFAULT_DICOM_SERIES_OFFSET
    dicom_burned_in_banner: bool = False

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {self.output_format!r}.")
        if isinstance(self.dicom_series_offset, bool) or not isinstance(self.dicom_series_offset, int):
            raise ValueError(f"dicom_series_offset must be an integer, got {self.dicom_series_offset!r}.")
        if self.dicom_series_offset < 1:
            raise ValueError(f"dicom_series_offset must be >= 1, got {self.dicom_series_offset}.")


def output_paths(
    output_folder: Path, case_id: str, options: ExportOptions, has_sdplus: bool = True
) -> dict[str, Path]:
    """The files a case will have once written, by kind (sd, sdplus, contrast, uncertainty, qc).

    ``has_sdplus``: whether the model makes SD+ (``TrainedModel.produces_sdplus``).
    """
    folder = Path(output_folder)
    ending = IMAGE_ENDING if options.output_format == "nifti" else ""  # a DICOM series is a folder
    kinds = ["sd", "sdplus"] if has_sdplus else ["sd"]
    kinds += ["unsupported"]
    kinds += ["contrast"] * options.save_contrast_signal + ["uncertainty"] * options.save_uncertainty
    paths = {kind: folder / f"{case_id}_{kind}{ending}" for kind in kinds}
    paths["summary"] = folder / f"{case_id}_summary.json"
    if options.save_qc_picture:
        paths["qc"] = folder / f"{case_id}_qc.png"
        paths["report"] = folder / f"{case_id}_report.html"
    return paths


def is_case_complete(
    output_folder: Path, case_id: str, options: ExportOptions, has_sdplus: bool = True
) -> bool:
    """Whether every file the options ask for exists (uncertainty is not required: one fold has none)."""
    paths = output_paths(output_folder, case_id, options, has_sdplus)
    return all(path.exists() for kind, path in paths.items() if kind != "uncertainty")


def series_sources(
    case_id: str, pre_contrast: Path | None, low_dose: Path | None, provenance: Provenance
) -> SeriesSources:
    """What the DICOM outputs of a case derive from: the headers of PC and LD where they are series
    folders (read here), the case name and the model's provenance."""

    def headers(path: Path | None) -> tuple[Dataset, ...]:
        return read_series_headers(path) if path is not None and Path(path).is_dir() else ()

    return SeriesSources(case_id, headers(pre_contrast), headers(low_dose), provenance)


def dicom_series(kind: str, sources: SeriesSources, offset: int, banner: bool = False) -> DerivedSeries:
    """The description and number of a kind's series: number = PC's SeriesNumber (0 when PC has none)
    + ``offset`` + the kind's place in :data:`DICOM_SERIES`; ``banner``: burn it in (not into the map)."""
    pc_number = sources.pre_contrast[0].get("SeriesNumber") if sources.pre_contrast else None
    if pc_number is None:
        pc_number = sources.reference_tags.get(PC_SERIES_NUMBER_KEY, "").strip() or None
    base = int(float(pc_number)) if pc_number is not None else 0
    number = base + offset + list(DICOM_SERIES).index(kind)
    return replace(
        DICOM_SERIES[kind], series_number=number, burned_in_banner=banner and kind != "unsupported"
    )


def write_prediction(
    prediction: CasePrediction,
    output_folder: Path,
    options: ExportOptions,
    sources: SeriesSources | None = None,
) -> list[Path]:
    """Write the files of one case (each atomically; the QC picture last); returns the written paths.

    ``sources``: for DICOM output, what the series derive from (:func:`series_sources`); None: the DICOM
    tags PC carries (``dicom_io.dicom_tags``) and the case name, without model provenance.
    """
    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    paths = output_paths(output_folder, prediction.case_id, options, prediction.sdplus is not None)
    images = {"sd": prediction.sd, "sdplus": prediction.sdplus, "contrast": prediction.contrast_signal}
    images["uncertainty"] = prediction.uncertainty
    images["unsupported"] = prediction.unsupported
    written: list[Path] = []
    with ThreadPoolExecutor(max_workers=IMAGE_WRITER_THREADS) as writers:
        pending = [
            writers.submit(_write_one, kind, images[kind], paths[kind], prediction, options, sources)
            for kind in ("sd", "sdplus", "contrast", "uncertainty", "unsupported")
            if kind in paths
        ]
        valid_mask = writers.submit(
            write_valid_mask, prediction.case_id, prediction.valid_mask, output_folder
        )
        # the pictures are drawn here while the images compress in the writers (which release the GIL)
        pictures = (qc_picture_png(prediction), report_html(prediction)) if "qc" in paths else None
        written += [path for path in (future.result() for future in pending) if path is not None]
        valid_mask_path = valid_mask.result()
    written += [valid_mask_path] if valid_mask_path is not None else []
    quality = (prediction.quality or CaseQuality(prediction.case_id)).to_json_dict()
    summary = {**prediction.summary, **quality, "seconds": prediction.seconds}
    summary["valid_mask_file"] = None if valid_mask_path is None else valid_mask_path.name
    write_json_atomic(summary, paths["summary"])
    written.append(paths["summary"])
    if pictures is not None:
        with atomic_path(paths["qc"]) as temporary:
            temporary.write_bytes(pictures[0])
        with atomic_path(paths["report"]) as temporary:
            temporary.write_text(pictures[1], encoding="utf-8")
        written.extend([paths["qc"], paths["report"]])
    return written


def _write_one(
    kind: str,
    image: sitk.Image | None,
    path: Path,
    prediction: CasePrediction,
    options: ExportOptions,
    sources: SeriesSources | None,
) -> Path | None:
    """Write one output image (atomically) as NIfTI or a DICOM series; None (and a warning) without one."""
    if image is None:
        logger.warning("%s: no %s; %s not written", prediction.case_id, kind, path.name)
        return None
    if options.output_format == "dicom":
        case_sources = replace(
            sources or SeriesSources(prediction.case_id), reference_tags=dicom_tags(prediction.pre_contrast)
        )
        series = dicom_series(kind, case_sources, options.dicom_series_offset, options.dicom_burned_in_banner)
        write_dicom_series(image, path, series, sources=case_sources)
    else:
        write_image_atomic(image, path)
    return path


def _oriented(image: sitk.Image) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Array (z, y, x) in LPS orientation (permutations and flips only) and its spacing (z, y, x) in mm."""
    oriented = sitk.DICOMOrient(image, QC_ORIENTATION)
    return sitk.GetArrayFromImage(oriented), tuple(reversed(oriented.GetSpacing()))


def _planes(volume: np.ndarray, centre: tuple[int, int, int]) -> list[np.ndarray]:
    """Axial, coronal, sagittal slices through ``centre`` of an LPS (z, y, x) array, superior up."""
    z, y, x = centre
    return [volume[z], np.flipud(volume[:, y, :]), np.flipud(volume[:, :, x])]


def _aspects(spacing_zyx: tuple[float, float, float]) -> list[float]:
    sz, sy, sx = spacing_zyx
    return [sy / sx, sz / sx, sz / sy]


def _qc_columns(prediction: CasePrediction) -> dict[str, tuple[np.ndarray, tuple[float, float, float]]]:
    """The QC picture's columns (LPS arrays and spacings) by title; SD+ only when the model made one."""
    columns = {
        "pre-contrast": prediction.pre_contrast,
        "low dose": prediction.low_dose,
        "synthetic SD": prediction.sd,
        "SD+": prediction.sdplus,
        "contrast signal": prediction.contrast_signal,
    }
    return {name: _oriented(image) for name, image in columns.items() if image is not None}


def qc_picture_png(prediction: CasePrediction) -> bytes:
    """The QC picture as PNG bytes, a grid: columns PC, LD, SD, SD+ (when the model makes it), contrast; rows axial, coronal, sagittal.

    The planes pass through the voxel of strongest predicted contrast signal. PC, LD, SD and SD+ share
    one grey window (0.5th to 99.5th percentile of them all); the contrast signal has its own (0 to
    its 99.9th percentile, at least its maximum's 1 %), colour map ``hot``; both windows from every 2nd
    voxel per axis (``case_report.WINDOW_STRIDE``).
    """
    arrays = _qc_columns(prediction)
    contrast, spacing = arrays["contrast signal"]
    centre = cast(
        "tuple[int, int, int]",
        tuple(int(index) for index in np.unravel_index(np.argmax(contrast), contrast.shape)),
    )
    low, high = anatomy_window([volume for name, (volume, _) in arrays.items() if name != "contrast signal"])
    contrast_high = contrast_window(contrast)[1]
    figure, axes = plt.subplots(3, len(arrays), figsize=(3 * len(arrays), 9), squeeze=False)
    for column, (name, (volume, _)) in enumerate(arrays.items()):
        is_contrast = name == "contrast signal"
        window = (0.0, contrast_high) if is_contrast else (low, high)
        for row, (plane, aspect) in enumerate(zip(_planes(volume, centre), _aspects(spacing), strict=True)):
            axis = axes[row][column]
            axis.imshow(
                plane, cmap="hot" if is_contrast else "gray", vmin=window[0], vmax=window[1], aspect=aspect
            )
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name)
            if column == 0:
                axis.set_ylabel(("axial", "coronal", "sagittal")[row])
    figure.suptitle(f"{prediction.case_id}: planes through voxel (z, y, x) = {centre} (LPS-oriented)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()
