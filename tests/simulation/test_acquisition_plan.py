"""Acquisition plans: shares of cases per effect, the realistic mix, defaults that change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.acquisition_plan import draw_acquisition_plan
from gdr_toolkit.simulation.settings import IDENTITY_DIRECTION


def _plans(settings, count=300):
    return [draw_acquisition_plan(settings, np.random.default_rng(seed), 1.0) for seed in range(count)]


def test_default_plan_is_the_plain_phantom():
    for plan in _plans(SimulationSettings(), 20):
        assert not plan.mprage and plan.fov_target == {} and plan.cut_side is None
        assert set(plan.direction.values()) == {IDENTITY_DIRECTION}
        assert set(plan.spacing_mm.values()) == {(2.0, 2.0, 2.0)}


def test_realistic_mix_draws_each_effect_in_its_share():
    settings = SimulationSettings.realistic_mix()
    plans = _plans(settings)
    assert settings.storage_dtype == "int16"
    assert np.mean([bool(plan.fov_target) for plan in plans]) == pytest.approx(1 / 3, abs=0.08)
    assert np.mean([plan.spacing_mm["pre_contrast"][2] > 2.0 for plan in plans]) == pytest.approx(
        0.25, abs=0.08
    )
    assert np.mean([plan.mprage for plan in plans]) == pytest.approx(1 / 3, abs=0.08)
    assert np.mean([plan.oblique_angle_deg["pre_contrast"] > 0 for plan in plans]) == pytest.approx(
        0.25, abs=0.08
    )
    targets = [target for plan in plans for target in plan.fov_target.values()]
    assert 0.1 <= min(targets) and max(targets) <= 0.3
    thick = [plan.spacing_mm["pre_contrast"][2] for plan in plans if plan.spacing_mm["pre_contrast"][2] > 2.0]
    assert 3.0 <= min(thick) and max(thick) <= 5.0


def test_fov_scans_and_slice_axis_choose_what_is_cropped_and_thick():
    settings = SimulationSettings(
        fov_crop_fraction=1.0, fov_crop_scans="low_dose", thick_pc_fraction=1.0, slice_axis=0
    )
    plan = draw_acquisition_plan(settings, np.random.default_rng(0), 1.0)
    assert set(plan.fov_target) == {"low_dose"}
    assert plan.spacing_mm["pre_contrast"][0] >= 3.0 and plan.spacing_mm["pre_contrast"][1:] == (2.0, 2.0)


def test_oblique_plans_share_the_contrast_series_direction():
    plan = draw_acquisition_plan(SimulationSettings(oblique_fraction=1.0), np.random.default_rng(3), 1.0)
    assert plan.direction["low_dose"] == plan.direction["standard_dose"] != plan.direction["pre_contrast"]
    assert all(3.0 <= angle <= 15.0 for angle in plan.oblique_angle_deg.values())


def test_settings_refuse_thick_slices_thinner_than_the_spacing():
    with pytest.raises(ValueError, match="thick_slice_mm_range"):
        SimulationSettings.tiny(thick_pc_fraction=0.5)  # 3-5 mm slices on a 4 mm grid
    assert SimulationSettings.realistic_mix(spacing_mm=4.0).thick_slice_mm_range == (6.0, 10.0)


def test_settings_round_trip_through_json():
    settings = SimulationSettings.realistic_mix(fov_cut_sides=("superior", "left"))
    assert SimulationSettings.from_json_dict(settings.to_json_dict()) == settings
