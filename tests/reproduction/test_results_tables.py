"""Tables of the reproduction study from hand-made summaries (values checked by hand)."""

from __future__ import annotations

import pytest

from gdr_toolkit.reproduction.results_tables import (
    TableRow,
    ablation_table,
    best_baseline,
    format_cell,
    markdown_table,
    metric_values,
    significance_table,
    strata,
    study_rows,
)
from gdr_toolkit.reproduction.study_methods import METHODS, select_methods


def _case(psnr_b: float, c_bar: float) -> dict:
    lesion = {"voxels": 10, "psnr_l": psnr_b - 10, "c_bar": c_bar, "c_hat": c_bar}
    return {"psnr_i": psnr_b - 2, "psnr_b": psnr_b, "ssim": 0.9, "mae_ce": 0.1, "lesions": {"1": lesion}}


def _summary(**methods: list[tuple[float, float]]) -> dict:
    return {
        "methods": {
            name: {"cases": {f"c{index}": _case(*values) for index, values in enumerate(cases)}}
            for name, cases in methods.items()
        }
    }


OURS = _summary(sd=[(34, 0.8), (36, 0.9), (35, 1.0)], sdplus=[(33, 1.1)] * 3, low_dose=[(30, 0.2)] * 3)
DIRECT_3D = _summary(sd=[(33, 0.5), (34, 0.6), (32, 0.4)])
DIRECT_2P5D = _summary(sd=[(31, 0.5), (32, 0.6), (30, 0.4)])
SUMMARIES = {"ours": OURS, "direct_3d": DIRECT_3D, "direct_2p5d": DIRECT_2P5D}


def test_cell_is_mean_and_sample_std():
    assert format_cell([1.0, 2.0, 3.0], 2) == "2.00 +- 1.00"
    assert format_cell([2.5], 1) == "2.5"
    assert format_cell([], 1) == "n/a"


def test_rows_put_low_dose_first_then_baselines_ours_sd_and_sdplus():
    labels = [row.label for row in study_rows(SUMMARIES, METHODS)]
    assert labels[0].startswith("x_LD")
    assert labels[1].startswith("direct 2.5D") and labels[2].startswith("direct 3D")
    assert labels[3] == "ours: x_SD" and labels[4].startswith("ours: x_SD+")
    assert len(labels) == 5  # ablations without a summary are left out


def test_best_baseline_has_the_highest_mean_psnr_b():
    assert best_baseline(SUMMARIES).key == "direct_3d"
    assert best_baseline({"ours": OURS}) is None


def test_metric_values_restrict_to_cases_for_case_and_lesion_metrics():
    row = TableRow("ours", OURS, "sd")
    assert metric_values(row, "psnr_b", {"c0", "c2"}) == [34, 35]
    assert metric_values(row, "c_bar", {"c1"}) == [0.9]


def test_table_has_a_line_per_row_and_the_hand_computed_mean():
    table = markdown_table(study_rows(SUMMARIES, METHODS))
    lines = table.splitlines()
    assert len(lines) == 2 + 5
    assert "| ours: x_SD | 33.00 +- 1.00 | 35.00 +- 1.00 |" in table


def test_significance_uses_paired_differences():
    table = significance_table(OURS, DIRECT_3D)
    # ours - direct_3d PSNR_B differences: 1, 2, 3 -> mean 2, t = 2 / (1 / sqrt(3)) = 3.46
    assert "| PSNR_B (dB) | +2.00 | 3.46 |" in table


def test_ablation_table_pairs_each_ablation_with_the_reference():
    reference = _summary(sd=[(34, 0.8), (35, 0.9), (36, 1.0)])
    no_condition = _summary(sd=[(33, 0.6), (33, 0.8), (33, 0.7)])
    summaries = {**SUMMARIES, "ours_ablation_budget": reference, "no_condition": no_condition}
    lines = ablation_table(summaries, METHODS).splitlines()
    assert len(lines) == 3  # header, rule, the one ablation with a summary (the reference is no row)
    # PSNR_B differences -1, -2, -3: mean -2, t = -2 / (1 / sqrt(3)) = -3.46, two-sided p(t, 2 dof) = 0.074
    # c_bar differences -0.2, -0.1, -0.3: mean -0.2, t = -3.46 as well
    # MAE_CE is 0.1 everywhere: difference 0 without variance, no p
    assert lines[2] == (
        "| ours without conditioning | -2.00 (0.074) | -2.00 (0.074) | +0.0000 (n/a) | -0.200 (0.074) |"
    )
    assert ablation_table(SUMMARIES, METHODS) is None  # no reference, no table


def test_strata_split_by_dose_edge_and_field_strength():
    metadata = {
        "a": {"dose_fraction": 0.1, "field_strength_t": 1.5},
        "b": {"dose_fraction": 0.25, "field_strength_t": 3.0},
        "c": {"dose_fraction": 0.2, "field_strength_t": 1.5},
    }
    assert strata(metadata, 0.2) == {
        "dose < 0.2": {"a"},
        "dose >= 0.2": {"b", "c"},
        "1.5 T": {"a", "c"},
        "3 T": {"b"},
    }


def test_method_selection_always_keeps_ours_and_rejects_unknown_keys():
    assert [m.key for m in select_methods(["direct_3d"])] == ["ours", "direct_3d"]
    with pytest.raises(ValueError, match="nope"):
        select_methods(["nope"])
