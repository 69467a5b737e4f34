"""``gdr_simulate_dataset`` writes into $gdr_raw and refuses to mix datasets."""

from __future__ import annotations

from gdr_toolkit.cli.simulate_dataset import main
from gdr_toolkit.dataset.raw_layout import list_cases


def test_cli_writes_dataset_into_gdr_raw(tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "12", "-n", "1", "--test", "1", "--spacing", "4", "--seed", "3"]) == 0
    folder = tmp_path / "Dataset012_Phantom"
    assert [case.case_id for case in list_cases(folder, "Tr")] == ["phantom_000"]
    assert [case.case_id for case in list_cases(folder, "Ts")] == ["phantom_001"]
    assert main(["-d", "12", "-n", "1", "--test", "1", "--spacing", "4", "--seed", "3"]) == 0  # rerun: no-op


def test_cli_refuses_a_different_dataset_with_the_same_id(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    (tmp_path / "Dataset013_Other").mkdir()
    assert main(["-d", "13", "-n", "1", "--spacing", "4"]) == 1
    assert "Dataset013_Other" in capsys.readouterr().err
    assert not (tmp_path / "Dataset013_Phantom").exists()


def test_cli_refuses_other_settings_in_an_existing_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "14", "-n", "1", "--spacing", "4", "--seed", "1"]) == 0
    assert main(["-d", "14", "-n", "1", "--spacing", "4", "--seed", "2"]) == 1


def test_cli_without_gdr_raw_fails_clearly(monkeypatch, capsys):
    monkeypatch.delenv("gdr_raw", raising=False)
    assert main(["-d", "15", "-n", "1"]) == 1
    assert "gdr_raw" in capsys.readouterr().err


def test_realism_flags_build_the_settings():
    from gdr_toolkit.cli.simulate_dataset import build_parser, settings_from_arguments
    from gdr_toolkit.simulation import SimulationSettings

    args = build_parser().parse_args(["-d", "1", "-n", "1", "--realism", "mixed", "--storage", "float32"])
    assert settings_from_arguments(args) == SimulationSettings.realistic_mix(storage_dtype="float32")
    args = build_parser().parse_args(
        ["-d", "1", "-n", "1", "--spacing", "4", "--fov-fraction", "0.5", "--fov-scans", "low_dose",
         "--fov-brain-outside", "0.05", "0.2", "--fov-sides", "superior", "left", "--thick-pc-fraction", "1",
         "--thick-slice-mm", "6", "8", "--slice-axis", "1", "--mprage-fraction", "0.3", "--storage", "int16",
         "--oblique-fraction", "0.2", "--oblique-deg", "2", "10"]
    )  # fmt: skip
    assert settings_from_arguments(args) == SimulationSettings(
        spacing_mm=4.0,
        fov_crop_fraction=0.5,
        fov_crop_scans="low_dose",
        fov_brain_outside_range=(0.05, 0.2),
        fov_cut_sides=("superior", "left"),
        thick_pc_fraction=1.0,
        thick_slice_mm_range=(6.0, 8.0),
        slice_axis=1,
        mprage_fraction=0.3,
        storage_dtype="int16",
        oblique_fraction=0.2,
        oblique_angle_range_deg=(2.0, 10.0),
    )
    assert settings_from_arguments(build_parser().parse_args(["-d", "1", "-n", "1"])) == SimulationSettings()


def test_real_scans_preset_and_its_flags_build_the_settings():
    from gdr_toolkit.cli.simulate_dataset import build_parser, settings_from_arguments
    from gdr_toolkit.simulation import SimulationSettings

    args = build_parser().parse_args(
        ["-d", "1", "-n", "1", "--realism", "real", "--skull-strip-fraction", "1"]
    )
    assert settings_from_arguments(args) == SimulationSettings.real_scans(skull_strip_fraction=1.0)
    args = build_parser().parse_args(
        ["-d", "1", "-n", "1", "--anatomies", "colin27", "--head-scale", "0.9", "1.1", "--snr", "20", "300",
         "--snr-distribution", "log_uniform", "--correlated-noise-fraction", "0.5"]
    )  # fmt: skip
    assert settings_from_arguments(args) == SimulationSettings(
        anatomies=("colin27",),
        head_scale_range=(0.9, 1.1),
        snr_range=(20.0, 300.0),
        snr_distribution="log_uniform",
        correlated_noise_fraction=0.5,
    )


def test_cli_reports_invalid_realism_settings(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    assert main(["-d", "16", "-n", "1", "--spacing", "4", "--thick-pc-fraction", "0.5"]) == 1
    assert "thick_slice_mm_range" in capsys.readouterr().err
