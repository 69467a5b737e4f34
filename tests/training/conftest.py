"""Fixtures of the training tests: a tiny synthetic preprocessed dataset and a tiny trainer.

The phantom: per case a few Gaussian blobs e(x) >= 0 inside a spherical brain; y_SD = p_SD * e with
p_SD = sigmoid(10 (e - 0.2)); the low-dose subtraction z_LD = dose * e + noise. The network can learn
y_SD from z_LD, so a few iterations reduce the validation loss.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.planning.plans import ConfigurationPlan, Plans, plans_path, save_plans
from gdr_toolkit.preprocessing import case_storage

CHANNELS = ("z_ld", "x_ld", "s_ld", "y_sd", "p_sd", "brain_mask", "x_pc", "x_sd")
DATASET = "Dataset042_TrainPhantom"
SHAPE = (24, 24, 24)


def phantom_case(rng: np.random.Generator, dose_fraction: float, noise_sigma: float) -> np.ndarray:
    """float32 (8, *SHAPE) stack in the stored channel order."""
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in SHAPE), indexing="ij"))
    centre = (np.asarray(SHAPE, dtype=np.float32) - 1) / 2
    brain = (np.sqrt((((grid - centre[:, None, None, None]) / 10.0) ** 2).sum(0)) < 1).astype(np.float32)
    signal = np.zeros(SHAPE, np.float32)
    for _ in range(4):
        position = rng.uniform(6, 18, size=3).astype(np.float32)
        signal += np.exp(-(((grid - position[:, None, None, None]) ** 2).sum(0)) / (2 * 2.0**2))
    signal *= brain
    p_sd = 1 / (1 + np.exp(-10 * (signal - 0.2)))
    z_ld = dose_fraction * signal + noise_sigma * rng.standard_normal(SHAPE).astype(np.float32)
    x_pc = brain * 1.0
    x_ld = x_pc + z_ld
    s_ld = np.full(SHAPE, noise_sigma, np.float32)
    y_sd = p_sd * signal
    return np.stack([z_ld, x_ld, s_ld, y_sd, p_sd, brain, x_pc, x_pc + y_sd]).astype(np.float32)


def tiny_plans() -> Plans:
    configuration = ConfigurationPlan(
        data_identifier="gdrPlans_4mm", spacing_mm=4.0, patch_size=(16, 16, 16), batch_size=2,
        network={"widths": [4, 8], "blocks_per_scale": 1, "condition_features": 2, "embedding_features": 8},
        condition_keys=("dose_fraction", "noise_sigma_ld"), noise_normalisation=True, local_noise_kernel_mm=8.0,
        target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=SHAPE,
    )  # fmt: skip
    return Plans(DATASET, "gdrPlans", "ExperimentPlanner", {"3d_cpu": configuration})


def write_phantom_dataset(preprocessed_root: Path, num_cases: int = 5) -> Path:
    """Plans, splits, cases and dataset_statistics.json under ``preprocessed_root/DATASET``."""
    folder = preprocessed_root / DATASET
    plans = tiny_plans()
    save_plans(plans, plans_path(folder, "gdrPlans"))
    data = folder / "gdrPlans_4mm"
    rng = np.random.default_rng(0)
    statistics = {}
    for index in range(num_cases):
        case = f"case_{index:03d}"
        dose, sigma = [0.1, 0.2, 0.3, 0.5, 0.25][index % 5], 0.02 + 0.01 * index
        stack = phantom_case(rng, dose, sigma)
        statistics[case] = 1.0 + 0.1 * index
        locations = np.argwhere(stack[4] > 0.5)[:100].tolist()
        properties = {
            "case_id": case, "channels": list(CHANNELS), "shape_zyx": list(SHAPE),
            "enhancing_locations_zyx": locations, "noise_sigma_ld": sigma, "gamma_statistic": statistics[case],
            "condition": {"dose_fraction": dose, "field_strength_t": 3.0, "relaxivity": 4.5},
        }  # fmt: skip
        case_storage.write_case(data, case, stack, properties)
    write_json_atomic({"gamma": float(np.mean(list(statistics.values()))), "gamma_statistic_per_case": statistics},
                      data / "dataset_statistics.json")  # fmt: skip
    cases = sorted(statistics)
    splits = [{"train": [c for c in cases if c != cases[k]], "val": [cases[k]]} for k in range(num_cases)]
    (folder / "splits_final.json").write_text(json.dumps(splits))
    return folder


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory) -> Path:
    """``gdr_preprocessed`` root holding the phantom dataset (built once)."""
    root = tmp_path_factory.mktemp("preprocessed")
    write_phantom_dataset(root)
    return root


@pytest.fixture(scope="session")
def trainer_folder(tmp_path_factory) -> Path:
    """A folder with ``tiny_trainer.py`` (for ``gdr_trainer_paths``)."""
    folder = tmp_path_factory.mktemp("trainers")
    shutil.copyfile(Path(__file__).with_name("tiny_trainer.py"), folder / "tiny_trainer.py")
    return folder


@pytest.fixture
def environment(phantom_root, trainer_folder, tmp_path, monkeypatch) -> Path:
    """Environment variables for the commands; returns the results root."""
    monkeypatch.setenv("gdr_preprocessed", str(phantom_root))
    monkeypatch.setenv("gdr_results", str(tmp_path / "results"))
    monkeypatch.setenv("gdr_trainer_paths", str(trainer_folder))
    monkeypatch.delenv("gdr_raw", raising=False)
    return tmp_path / "results"


@pytest.fixture(scope="session")
def phantom_dataset(phantom_root) -> Path:
    """The preprocessed phantom dataset folder (plans, splits, ``gdrPlans_4mm/``)."""
    return phantom_root / DATASET
