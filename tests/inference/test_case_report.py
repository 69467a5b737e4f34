"""The per-case report (HTML with embedded PNGs) and the guard files written by the export."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import numpy as np
import pytest
import SimpleITK as sitk
from guard_fixtures import synthetic_prediction
from PIL import Image

from gdr_toolkit.inference.case_report import (
    anatomy_window,
    contrast_window,
    flagged_region_centres,
    write_case_report,
)
from gdr_toolkit.inference.export import ExportOptions, output_paths, write_prediction


class _Sections(HTMLParser):
    """Collects section ids, the title, headings and image data of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.images: list[bytes] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.sections.append(attributes["id"])
        if tag == "img":
            self.images.append(base64.b64decode(attributes["src"].split(",", 1)[1]))

    def handle_data(self, data):
        self.text.append(data)


def parse(path) -> _Sections:
    parser = _Sections()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_report_has_its_sections_names_the_case_and_embeds_pictures(tmp_path):
    path = tmp_path / "case_7_report.html"
    write_case_report(synthetic_prediction("case_7"), path)
    page = parse(path)
    assert page.sections == ["case", "summary", "strongest", "region-1"]
    text = " ".join(page.text)
    assert "case_7" in text and "sigma_LD" in text and "unsupported enhancement (ml)" in text
    assert len(page.images) == 2
    for png in page.images:
        picture = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
        assert picture.shape[0] > 300 and picture.shape[1] > 600
        assert picture.std() > 10  # not a blank picture


def test_report_without_flags_or_folds_says_so(tmp_path):
    prediction = synthetic_prediction("quiet", with_uncertainty=False)
    empty = sitk.Image(prediction.unsupported)
    empty.CopyInformation(prediction.unsupported)
    path = tmp_path / "quiet_report.html"
    write_case_report(type(prediction)(**{**prediction.__dict__, "unsupported": empty * 0}), path)
    page = parse(path)
    assert page.sections == ["case", "summary", "strongest", "regions"]
    assert "No unsupported enhancement was flagged." in " ".join(page.text)


def test_report_of_a_case_with_nothing_assessable_does_not_say_nothing_was_flagged(tmp_path):
    prediction = synthetic_prediction("faint", with_uncertainty=False)
    guard = {**prediction.summary["hallucination_guard"], "status": "nothing_assessable"}
    guard["status_text"] = "nothing assessable: 2 predicted regions, all too small"
    empty = sitk.Image(prediction.unsupported) * 0
    empty.CopyInformation(prediction.unsupported)
    summary = {**prediction.summary, "hallucination_guard": guard}
    path = tmp_path / "faint_report.html"
    write_case_report(
        type(prediction)(**{**prediction.__dict__, "unsupported": empty, "summary": summary}), path
    )
    text = " ".join(parse(path).text)
    assert "No unsupported enhancement was flagged." not in text
    assert "the guard judged nothing: nothing assessable: 2 predicted regions" in text


def test_flagged_regions_come_largest_first_with_a_centre_inside():
    volume = np.zeros((20, 20, 20), dtype=np.uint8)
    volume[2:4, 2:4, 2:4] = 2
    volume[10:16, 10:16, 10:16] = 2
    volume[10:16, 12:14, 12:14] = 0  # a hole through the big region's centre of mass
    volume[17:20, 17:20, 17:20] = 1  # a supported region is not flagged
    centres = flagged_region_centres(volume)
    assert len(centres) == 2
    assert all(10 <= value < 16 for value in centres[0])
    assert volume[centres[0]] == 2
    assert centres[1] == (2, 2, 2) or volume[centres[1]] == 2


def test_export_writes_the_guard_map_summary_and_report(tmp_path):
    prediction = synthetic_prediction("case_7")
    written = write_prediction(prediction, tmp_path, ExportOptions())
    paths = output_paths(tmp_path, "case_7", ExportOptions())
    assert set(paths.values()) <= set(written) | {paths.get("contrast"), paths.get("uncertainty")}
    unsupported = sitk.ReadImage(str(paths["unsupported"]))
    assert unsupported.GetPixelID() == sitk.sitkUInt8
    assert unsupported.GetSize() == prediction.sd.GetSize()
    np.testing.assert_array_equal(
        sitk.GetArrayFromImage(unsupported), sitk.GetArrayFromImage(prediction.unsupported)
    )
    summary = json.loads(paths["summary"].read_text())
    assert summary["case_id"] == "case_7"
    assert summary["hallucination_guard"]["unsupported_ml"] > 0
    assert summary["seconds"]["network"] == 2.0
    assert paths["report"].name == "case_7_report.html" and paths["report"].is_file()


def test_display_windows_from_every_second_voxel_match_the_whole_volume():
    """The windows are percentiles of 1/8 of the voxels: on noisy anatomy within 1 % of the window's
    width of the whole volume's percentiles; the contrast window keeps its floor of 1 % of the maximum."""
    rng = np.random.default_rng(4)
    pre = rng.normal(100.0, 20.0, (80, 96, 88)).astype(np.float32)
    low_dose = pre + rng.normal(0.0, 5.0, pre.shape).astype(np.float32)
    whole = np.percentile(np.concatenate([pre.ravel(), low_dose.ravel()]), [0.5, 99.5])
    found = anatomy_window([pre, low_dose])
    assert np.allclose(found, whole, atol=0.01 * (whole[1] - whole[0]))
    contrast = np.zeros((40, 48, 44), dtype=np.float32)
    contrast[10:30, 10:30, 10:30] = rng.random((20, 20, 20)).astype(np.float32)
    top = np.percentile(contrast, 99.9)
    assert contrast_window(contrast)[0] == 0.0
    assert contrast_window(contrast)[1] == pytest.approx(top, rel=0.01)
    spike = np.zeros_like(contrast)
    spike[5, 5, 5] = 50.0  # a single voxel: the 99.9th percentile is 0, the floor is 0.5
    assert contrast_window(spike) == (0.0, 0.5)
