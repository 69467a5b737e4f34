"""What a reproduction study runs: data, configuration, the equal training budget, and named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class StudySettings:
    """One study's settings; every method gets the same data, schedule and evaluation.

    Attributes:
        name: preset name (recorded in the report).
        dataset_id: id of the simulated dataset the study writes (``DatasetXXX_ReproductionStudy``).
        num_training: simulated training cases (5-fold splits; fold ``fold`` trains the models).
        num_test: held-out simulated test cases (``imagesTs``), never seen in training or tuning.
        spacing_mm: isotropic voxel spacing of the simulated pre-contrast scans, mm.
        realism: ``mixed`` (the simulator's realistic mix: cropped LD/SD slabs, thick-slice PC, MPRAGE,
            int16, oblique scans; what users' scans bring) or ``uniform`` (the simulator's defaults).
        seed: simulation seed.
        configuration: plan configuration every method trains (``3d_cpu`` or ``3d_fullres``).
        fold: cross-validation fold to train.
        num_epochs: epochs of ours and the baselines (the equal budget is ``num_epochs *
            iterations_per_epoch``).
        ablation_num_epochs: epochs of every ablation (a stated shorter budget, the same for all of them;
            None: ``num_epochs``). Ours at this budget is the ablations' reference in the report.
        iterations_per_epoch: iterations per epoch.
        initial_learning_rate: peak learning rate, for every method (None: the configuration's recipe,
            the CPU recipe for ``3d_cpu``, training.md).
        oversample_fraction: share of enhancement-centred patches, for every method (None: the recipe's).
        num_processes: preprocessing workers.
        device: ``cpu``, ``cuda`` or ``mps``.
        disable_tta: predict without mirroring test-time augmentation.
    """

    name: str = "small"
    dataset_id: int = 700
    num_training: int = 24
    num_test: int = 10
    spacing_mm: float = 2.0
    realism: str = "mixed"
    seed: int = 7
    configuration: str = "3d_cpu"
    fold: int = 0
    num_epochs: int = 40
    ablation_num_epochs: int | None = 10
    iterations_per_epoch: int = 50
    initial_learning_rate: float | None = None
    oversample_fraction: float | None = None
    num_processes: int = 2
    device: str = "cpu"
    disable_tta: bool = True

    def __post_init__(self) -> None:
        positive = ("num_training", "num_test", "num_epochs", "iterations_per_epoch", "num_processes")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"StudySettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.ablation_num_epochs is not None and not 1 <= self.ablation_num_epochs <= self.num_epochs:
            raise ValueError(
                f"StudySettings.ablation_num_epochs must lie in 1..num_epochs, got {self.ablation_num_epochs}"
            )
        if self.num_test < 2:
            raise ValueError(f"StudySettings.num_test must be >= 2 for paired tests, got {self.num_test}")
        if self.realism not in ("mixed", "uniform"):
            raise ValueError(f"StudySettings.realism must be 'mixed' or 'uniform', got {self.realism!r}")
        if not 0 < self.dataset_id < 1000:
            raise ValueError(f"StudySettings.dataset_id must lie in 1..999, got {self.dataset_id}")

    @property
    def iterations(self) -> int:
        """The training budget of ours and the baselines, in iterations."""
        return self.num_epochs * self.iterations_per_epoch

    def epochs_of(self, role: str) -> int:
        """Epochs of a method with this role (``core`` or ``ablation``)."""
        if role == "ablation" and self.ablation_num_epochs is not None:
            return self.ablation_num_epochs
        return self.num_epochs

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, record: dict[str, Any]) -> StudySettings:
        unknown = set(record) - {item.name for item in fields(cls)}
        if unknown:
            raise ValueError(f"unknown study settings {sorted(unknown)}")
        return cls(**record)


PRESETS: dict[str, StudySettings] = {
    # 2 CPU cores: 2000 iterations of 32^3 x 4 (about 55 min each) for ours and the two baselines, 500 for
    # ours and each ablation at the shorter budget: about 4 hours in the background, resumable.
    "small": StudySettings(),
    # What this session could afford on 2 shared cores (documentation/results.md states which ran).
    "quick": StudySettings(
        name="quick", num_training=16, num_test=8, num_epochs=10, ablation_num_epochs=None
    ),
    # A GPU: 1 mm data, the GPU plan, 20k iterations per method (about a day per method on one A40-class GPU).
    "gpu": StudySettings(
        name="gpu",
        num_training=60,
        num_test=20,
        spacing_mm=1.0,
        configuration="3d_fullres",
        num_epochs=80,
        iterations_per_epoch=250,
        ablation_num_epochs=None,
        initial_learning_rate=1e-4,
        oversample_fraction=0.33,
        num_processes=8,
        device="cuda",
        disable_tta=False,
    ),  # fmt: skip
    # Tests: 4 mm volumes, two iterations per method.
    "tiny": StudySettings(
        name="tiny",
        dataset_id=701,
        num_training=5,
        num_test=2,
        spacing_mm=4.0,
        num_epochs=1,
        ablation_num_epochs=None,
        iterations_per_epoch=2,
    ),  # fmt: skip
}


def study_settings(preset: str, **overrides: Any) -> StudySettings:
    """The named preset with ``overrides`` (None values ignored)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown study preset {preset!r}; choose one of {sorted(PRESETS)}")
    return replace(PRESETS[preset], **{key: value for key, value in overrides.items() if value is not None})
