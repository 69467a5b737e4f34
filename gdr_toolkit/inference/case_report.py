"""The one-page report of a predicted case: a self-contained HTML file (``CASE_report.html``) with its
pictures embedded as PNG data URIs, readable in any browser without a server.

Sections (ids in brackets; documentation/inference.md, "Per-case report", describes every panel):
    out of distribution [out-of-distribution]  each quantity of the case outside the range of the model's
                          training cases (``distribution_check.py``): value, training range, allowed
                          interval, rule; else a line saying all lie inside, or that the model stores none
    case [case]           condition values (dose fraction, field strength, relaxivity), sigma_LD, brain
                          volume, enhancement factor, the guard's dose response and its source
    summary [summary]     the guard's status (assessed / nothing assessable / not assessable), its numbers
                          (predicted / judged / unsupported regions and volumes in ml, unsupported
                          fractions) and the wall times
    planes [strongest]    axial, coronal and sagittal planes through the voxel of strongest predicted
                          contrast; columns PC, LD, synthetic SD, contrast signal, fold disagreement over
                          SD (when > 1 fold), unsupported enhancement over SD
    planes [region-N]     the same through the centre of each flagged region, largest first (at most
                          ``MAX_REGIONS``)
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from scipy import ndimage  # noqa: E402

from gdr_toolkit.file_io import atomic_path  # noqa: E402
from gdr_toolkit.inference.hallucination_guard import UNSUPPORTED  # noqa: E402

MAX_REGIONS = 3
ORIENTATION = "LPS"  # array (z, y, x) = (inferior->superior, anterior->posterior, right->left)
PLANE_NAMES = ("axial", "coronal", "sagittal")
FLAG_COLOURS = ListedColormap(["red"])
Volume = tuple[np.ndarray, tuple[float, float, float]]


def oriented(image: sitk.Image) -> Volume:
    """Array (z, y, x) in LPS orientation (permutations and flips only) and its spacing (z, y, x) in mm."""
    reoriented = sitk.DICOMOrient(image, ORIENTATION)
    return sitk.GetArrayFromImage(reoriented), tuple(reversed(reoriented.GetSpacing()))


def planes(volume: np.ndarray, centre: tuple[int, ...]) -> list[np.ndarray]:
    """Axial, coronal, sagittal slices through ``centre`` of an LPS (z, y, x) array, superior up."""
    z, y, x = centre
    return [volume[z], np.flipud(volume[:, y, :]), np.flipud(volume[:, :, x])]


def aspects(spacing_zyx: tuple[float, float, float]) -> list[float]:
    """Display aspect ratio (row spacing / column spacing) of the three planes."""
    sz, sy, sx = spacing_zyx
    return [sy / sx, sz / sx, sz / sy]


def flagged_region_centres(unsupported: np.ndarray, limit: int = MAX_REGIONS) -> list[tuple[int, int, int]]:
    """Per 26-connected flagged region of the guard's three-state map (state 2 = unsupported), largest
    first (at most ``limit``), its voxel (z, y, x) nearest its centre of mass (which may lie outside a
    ring-shaped region)."""
    labels, count = ndimage.label(unsupported == UNSUPPORTED, structure=np.ones((3, 3, 3), dtype=bool))
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    boxes = ndimage.find_objects(labels)
    centres = []
    for index in np.argsort(-sizes, kind="stable")[:limit]:
        box = boxes[index]
        points = np.argwhere(labels[box] == index + 1) + np.array([part.start for part in box])
        mean = points.mean(axis=0)
        nearest = points[np.argmin(((points - mean) ** 2).sum(axis=1))]
        centres.append(tuple(int(value) for value in nearest))
    return centres  # type: ignore[return-value]


#: display windows are percentiles of every 2nd voxel per axis (1/8 of them): the same window to a grey
#: level, 8x less sorting of whole volumes (two pictures per case)
WINDOW_STRIDE = 2


def anatomy_window(volumes: list[np.ndarray]) -> tuple[float, float]:
    """Grey window shared by anatomical images: their 0.5th and 99.5th percentiles (every 2nd voxel)."""
    stride = (slice(None, None, WINDOW_STRIDE),) * 3
    values = np.concatenate([volume[stride].ravel() for volume in volumes])
    low, high = np.percentile(values, [0.5, 99.5])
    return float(low), float(high)


def contrast_window(contrast: np.ndarray) -> tuple[float, float]:
    """0 to the contrast signal's 99.9th percentile (every 2nd voxel), at least 1 % of its maximum."""
    top = float(np.percentile(contrast[(slice(None, None, WINDOW_STRIDE),) * 3], 99.9))
    return 0.0, max(top, 0.01 * float(contrast.max()), 1e-12)


def _windows(columns: dict[str, Volume]) -> dict[str, tuple[float, float]]:
    anatomy = [columns[name][0] for name in ("pre-contrast", "low dose", "synthetic SD")]
    return {"anatomy": anatomy_window(anatomy), "contrast": contrast_window(columns["contrast signal"][0])}


def planes_figure(
    columns: dict[str, Volume], overlays: dict[str, np.ndarray | None], centre: tuple[int, ...]
) -> bytes:
    """PNG bytes: rows axial/coronal/sagittal through ``centre``; the anatomy columns, the contrast signal,
    then SD with each overlay (``"fold disagreement"``: uncertainty, ``"unsupported"``: 0/1 map of flagged regions)."""
    windows = _windows(columns)
    sd_volume, spacing = columns["synthetic SD"]
    names = [*columns, *(f"{name} over SD" for name, volume in overlays.items() if volume is not None)]
    figure, axes = plt.subplots(3, len(names), figsize=(2.6 * len(names), 7.8), squeeze=False)
    for column, name in enumerate(names):
        base = columns.get(name, (sd_volume, spacing))[0]
        window = windows["contrast" if name == "contrast signal" else "anatomy"]
        for row, (plane, aspect) in enumerate(zip(planes(base, centre), aspects(spacing), strict=True)):
            axis = axes[row][column]
            axis.imshow(
                plane,
                cmap="hot" if name == "contrast signal" else "gray",
                vmin=window[0],
                vmax=window[1],
                aspect=aspect,
            )
            if name.endswith(" over SD"):
                _overlay(axis, overlays[name[: -len(" over SD")]], name, centre, row, aspect)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=9)
            if column == 0:
                axis.set_ylabel(PLANE_NAMES[row])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=70)
    plt.close(figure)
    return buffer.getvalue()


def _overlay(
    axis: Any, volume: np.ndarray | None, name: str, centre: tuple[int, ...], row: int, aspect: float
) -> None:
    plane = planes(volume, centre)[row]  # type: ignore[arg-type]
    if name.startswith("unsupported"):
        axis.imshow(np.ma.masked_where(plane <= 0, plane), cmap=FLAG_COLOURS, alpha=0.6, aspect=aspect)
        return
    top = max(float(np.percentile(volume, 99.9)), 1e-12)  # type: ignore[arg-type]
    shown = np.ma.masked_where(plane < 0.1 * top, plane)
    axis.imshow(shown, cmap="viridis", vmin=0.0, vmax=top, alpha=0.6, aspect=aspect)


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(_format(value))}</td></tr>"
        for key, value in rows.items()
    )
    return f"<table>{cells}</table>"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "not given"
    return str(value)


def _image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def summary_rows(summary: dict[str, Any], seconds: dict[str, float]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The case table and the summary table of the report (from ``CASE_summary.json``'s content)."""
    guard = summary.get("hallucination_guard", {})
    condition = summary.get("condition", {})
    case = {
        "dose fraction": condition.get("dose_fraction"),
        "field strength (T)": condition.get("field_strength_t"),
        "relaxivity (L/(mmol s))": condition.get("relaxivity"),
        "sigma_LD (PC normalised units)": summary.get("noise_sigma_ld"),
        "brain volume (ml)": summary.get("brain_volume_ml"),
        "enhancement factor k": summary.get("enhancement_factor"),
        "guard dose response rho": guard.get("dose_response"),
        "rho from": guard.get("dose_response_source"),
    }
    numbers = {
        "guard": guard.get("status_text"),
        "predicted regions": guard.get("predicted_regions"),
        "regions judged by the low dose": guard.get("judged_regions"),
        "predicted enhancement (ml)": guard.get("predicted_ml"),
        "assessable by the low dose (ml)": guard.get("assessable_ml"),
        "unsupported enhancement (ml)": guard.get("unsupported_ml"),
        "unsupported fraction of predicted volume": guard.get("unsupported_fraction"),
        "unsupported fraction of predicted signal": guard.get("unsupported_signal_fraction"),
        "flagged regions": guard.get("unsupported_regions"),
        **{f"{name} time (s)": value for name, value in seconds.items()},
    }
    return case, numbers


def distribution_section(summary: dict[str, Any]) -> str:
    """The out-of-distribution section (``summary``: the content of ``CASE_summary.json``); empty when the
    summary carries no check (a prediction not made by the ``Predictor``)."""
    if "out_of_distribution_checked" not in summary:
        return ""
    findings = summary.get("out_of_distribution") or []
    if not summary["out_of_distribution_checked"]:
        text = "<p>Not checked: the model stores no ranges of its training cases (trained before they were recorded).</p>"
    elif not findings:
        text = "<p>Every checked quantity lies within the range of the model's training cases.</p>"
    else:
        case = html.escape(str(summary.get("case_id", "this case")))
        count = f"{len(findings)} quantit{'y' if len(findings) == 1 else 'ies'}"
        text = (
            f'<p class="warning"><strong>Warning: case {case} lies outside the data the model was trained on '
            f"in {count}; check the prediction.</strong></p>{_findings_table(findings)}"
        )
    return f'<section id="out-of-distribution"><h2>Out of distribution</h2>{text}</section>'


def _findings_table(findings: list[dict[str, Any]]) -> str:
    """One row per finding: quantity, value, training range, allowed interval, rule."""
    header = "".join(
        f"<th>{name}</th>" for name in ("quantity", "value", "training range", "allowed", "rule")
    )
    rows = []
    for finding in findings:
        cells = (
            str(finding["quantity"]),
            _format(finding["value"]),
            f"{_format(finding['training_minimum'])} to {_format(finding['training_maximum'])}",
            f"{_bound(finding['allowed_minimum'])} to {_bound(finding['allowed_maximum'])}",
            str(finding["rule"]),
        )
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>"


def _bound(value: float | None) -> str:
    return "unbounded" if value is None else _format(float(value))


def no_flag_text(summary: dict[str, Any]) -> str:
    """The report's line when no region is flagged: judged without flags, or nothing assessable (why)."""
    guard = summary.get("hallucination_guard", {})
    if guard.get("status", "assessed") == "assessed":
        return "No unsupported enhancement was flagged."
    return (
        f"No region was flagged, but the guard judged nothing: {guard.get('status_text', 'no guard result')}."
    )


def report_html(prediction: Any) -> str:
    """The report of a :class:`~gdr_toolkit.inference.predictor.CasePrediction` as an HTML string."""
    columns = {
        "pre-contrast": oriented(prediction.pre_contrast),
        "low dose": oriented(prediction.low_dose),
        "synthetic SD": oriented(prediction.sd),
        "contrast signal": oriented(prediction.contrast_signal),
    }
    states = None if prediction.unsupported is None else oriented(prediction.unsupported)[0]
    overlays = {
        "fold disagreement": None if prediction.uncertainty is None else oriented(prediction.uncertainty)[0],
        "unsupported": None if states is None else (states == UNSUPPORTED).astype(np.uint8),
    }
    contrast = columns["contrast signal"][0]
    strongest = tuple(int(index) for index in np.unravel_index(np.argmax(contrast), contrast.shape))
    regions = [] if states is None else flagged_region_centres(states)
    case_id = html.escape(prediction.case_id)
    case_rows, numbers = summary_rows(prediction.summary, prediction.seconds)
    sections = [
        distribution_section(prediction.summary),
        f'<section id="case"><h2>Case</h2>{_table(case_rows)}</section>',
        f'<section id="summary"><h2>Summary</h2>{_table(numbers)}</section>',
        _planes_section(
            "strongest",
            f"Strongest enhancement, voxel (z, y, x) = {strongest} (LPS)",
            columns,
            overlays,
            strongest,
        ),
    ]
    for number, centre in enumerate(regions, start=1):
        title = f"Flagged region {number} (largest first), voxel (z, y, x) = {centre} (LPS)"
        sections.append(_planes_section(f"region-{number}", title, columns, overlays, centre))
    if not regions:
        sections.append(
            f'<section id="regions"><p>{html.escape(no_flag_text(prediction.summary))}</p></section>'
        )
    style = "body{font-family:sans-serif;max-width:1400px}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}img{max-width:100%}"
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{case_id}: gdr_toolkit case report</title>'
        f"<style>{style}</style></head><body><h1>{case_id}</h1>"
        "<p>Synthetic images: the contrast is predicted from the low-dose scan. Red marks predicted "
        "enhancement that the low-dose subtraction does not support.</p>"
        + "".join(sections)
        + "</body></html>\n"
    )


def _planes_section(
    section_id: str,
    title: str,
    columns: dict[str, Volume],
    overlays: dict[str, np.ndarray | None],
    centre: tuple[int, ...],
) -> str:
    png = planes_figure(columns, overlays, centre)
    return f'<section id="{section_id}"><h2>{html.escape(title)}</h2>{_image(png, title)}</section>'


def write_case_report(prediction: Any, path: Path) -> None:
    """Write ``report_html(prediction)`` atomically to ``path`` (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(report_html(prediction), encoding="utf-8")
