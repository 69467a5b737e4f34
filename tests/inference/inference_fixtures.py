"""Builders for the inference tests: a model folder written directly (tiny network, no training) and
simulated test cases on disk. Also imported by tests/cli/test_predict.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

from gdr_toolkit.dataset.image_io import write_image_atomic
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.model.checkpoint import CHECKPOINT_FORMAT_VERSION, CHECKPOINT_KEYS, save_checkpoint
from gdr_toolkit.model.conditions import ConditionNormalisation
from gdr_toolkit.planning.plans import ConfigurationPlan, Plans
from gdr_toolkit.simulation import SimulationSettings
from gdr_toolkit.simulation.case_simulator import simulate_case
from gdr_toolkit.training.trainer import GDRTrainer

DATASET = "Dataset077_InferencePhantom"
CONFIGURATION = "3d_cpu"
CONDITION_KEYS = ("dose_fraction", "noise_sigma_ld")


def tiny_plans(
    spacing_mm: float = 5.0,
    condition_keys: tuple[str, ...] = CONDITION_KEYS,
    noise_normalisation: bool = True,
) -> Plans:
    """Plans with one tiny configuration (16^3 patches, widths 4/8)."""
    configuration = ConfigurationPlan(
        data_identifier=f"gdrPlans_{spacing_mm:g}mm", spacing_mm=spacing_mm, patch_size=(16, 16, 16), batch_size=2,
        network={"widths": [4, 8], "blocks_per_scale": 1, "embedding_features": 8},
        condition_keys=condition_keys, noise_normalisation=noise_normalisation, local_noise_kernel_mm=8.0,
        target_device="cpu", memory_budget_bytes=0, estimated_memory_bytes=0, median_image_shape=(32, 32, 32),
    )  # fmt: skip
    return Plans(DATASET, "gdrPlans", "ExperimentPlanner", {CONFIGURATION: configuration})


def write_model_folder(
    folder: Path,
    plans: Plans,
    folds: tuple[int, ...] = (0,),
    zero_output: bool = False,
    gamma: float = 1.2,
    seed: int = 0,
) -> Path:
    """``folder/GDRTrainer__gdrPlans__3d_cpu/fold_K/checkpoint_final.pth`` for each fold; returns the model folder.

    ``zero_output`` zeroes the last convolution, so the network predicts exactly 0.
    """
    model_folder = folder / f"GDRTrainer__gdrPlans__{CONFIGURATION}"
    for fold in folds:
        torch.manual_seed(seed + fold)
        trainer = GDRTrainer(plans, CONFIGURATION, fold, Path(), model_folder / f"fold_{fold}")
        # the network in preprocessing's units (no training data to measure sigma)
        trainer.recipe = trainer.recipe.replace(noise_units=False)
        network = trainer.build_network()
        head = network.head[-1]
        with torch.no_grad():
            if zero_output:
                head.weight.zero_()
                head.bias.zero_()
            else:
                head.bias.fill_(0.05)  # a visibly positive output after the ReLU
        keys = trainer.condition_keys
        normalisation = ConditionNormalisation(keys, tuple(0.1 for _ in keys), tuple(1.0 for _ in keys))
        checkpoint = dict.fromkeys(CHECKPOINT_KEYS)
        checkpoint |= {
            "format_version": CHECKPOINT_FORMAT_VERSION, "trainer_name": "GDRTrainer",
            "plans": plans.to_json_dict(), "configuration": CONFIGURATION, "fold": fold, "init_args": {},
            "trainer_settings": {}, "network_config": network.config.to_json_dict(), "condition_keys": list(keys),
            "condition_normalisation": normalisation.to_json_dict(), "gamma": gamma + 0.1 * fold,
            "network_state": network.state_dict(),
        }  # fmt: skip
        save_checkpoint(checkpoint, model_folder / f"fold_{fold}" / "checkpoint_final.pth")
    return model_folder


def oblique_permuted_direction(angle_deg: float = 20.0) -> tuple[float, ...]:
    """Axes permuted (x <- z, y <- x, z <- y) and rotated about the first axis: an oblique stored grid."""
    angle = math.radians(angle_deg)
    rotation = np.array(
        [[1, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]]
    )
    permutation = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=float)
    return tuple(float(value) for value in (rotation @ permutation).ravel())


def anisotropic(image: sitk.Image, spacing_mm: tuple[float, float, float]) -> sitk.Image:
    """``image`` resampled (linear) onto a grid with the same orientation and extent but ``spacing_mm``."""
    old = np.asarray(image.GetSpacing())
    size = [max(4, int(round(n * s / t))) for n, s, t in zip(image.GetSize(), old, spacing_mm, strict=True)]
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing(spacing_mm)
    reference.SetDirection(image.GetDirection())
    reference.SetOrigin(image.GetOrigin())
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)


def simulated_pair(
    seed: int, settings: SimulationSettings | None = None
) -> tuple[sitk.Image, sitk.Image, dict]:
    """(PC, LD, metadata record) of one simulated tiny case."""
    case = simulate_case(settings or SimulationSettings.tiny(), seed, 0)
    return case.pre_contrast, case.low_dose, case.metadata


def write_test_cases(folder: Path, case_ids: tuple[str, ...], seed: int = 5) -> None:
    """``folder/imagesTs/CASE_000{0,1}.nii.gz`` and ``folder/metadataTs/CASE.json`` (one simulated pair reused)."""
    pre_contrast, low_dose, metadata = simulated_pair(seed)
    for case_id in case_ids:
        write_image_atomic(pre_contrast, folder / "imagesTs" / f"{case_id}_0000.nii.gz")
        write_image_atomic(low_dose, folder / "imagesTs" / f"{case_id}_0001.nii.gz")
        write_json_atomic(metadata, folder / "metadataTs" / f"{case_id}.json")
