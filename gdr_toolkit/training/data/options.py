"""Options of training-patch loading and augmentation (frozen dataclasses, validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gdr_toolkit.training.data.patch_sampling import ENHANCEMENT_SAMPLING_MODES, EnhancementSampling

SPATIAL_AXES = (0, 1, 2)


@dataclass(frozen=True)
class AugmentationOptions:
    """Augmentation of a training patch (all stored channels move together).

    Attributes:
        enabled: False disables rotation, scaling and mirroring (patches are plain crops).
        rotation_degrees: largest absolute rotation angle about each of the three axes, degrees.
        rotation_probability: probability that a sample is rotated (then about all three axes).
        scaling_range: (smallest, largest) isotropic scale factor of the sampled region; a factor > 1
            samples a larger region, so structures appear smaller in the patch.
        scaling_probability: probability that a sample is scaled.
        mirror_axes: spatial axes of (z, y, x) that may be flipped, each independently with p = 0.5.
        permute_axes: permute the spatial axes at random (among axes of equal patch edge; with the flips
            and a cubic patch this draws any of the 48 right-angle symmetries of the cube, 90-degree
            in-plane rotations included). No interpolation.
        intensity_scale: r >= 0; every intensity channel (inputs and targets, not the masks) of a patch is
            multiplied by one factor drawn from U(1 - r, 1 + r); 0 disables it.
    """

    enabled: bool = True
    rotation_degrees: float = 15.0
    rotation_probability: float = 0.2
    scaling_range: tuple[float, float] = (0.85, 1.15)
    scaling_probability: float = 0.2
    mirror_axes: tuple[int, ...] = SPATIAL_AXES
    permute_axes: bool = False
    intensity_scale: float = 0.0

    @classmethod
    def right_angle(cls, intensity_scale: float = 0.05) -> AugmentationOptions:
        """The authors' augmentation: flips, axis permutations (so 90-degree rotations) and +-5 % intensity
        scaling of inputs and target together; no rotation by other angles, no scaling, no interpolation."""
        return cls(
            rotation_probability=0.0,
            scaling_probability=0.0,
            permute_axes=True,
            intensity_scale=intensity_scale,
        )

    def __post_init__(self) -> None:
        if not 0.0 <= self.intensity_scale < 1.0:
            raise ValueError(f"intensity_scale must lie in [0, 1), got {self.intensity_scale}.")
        if not 0.0 <= self.rotation_degrees <= 180.0:
            raise ValueError(f"rotation_degrees must lie in [0, 180], got {self.rotation_degrees}.")
        for name in ("rotation_probability", "scaling_probability"):
            _check_probability(name, getattr(self, name))
        low, high = self.scaling_range
        if not 0.0 < low <= high:
            raise ValueError(f"scaling_range must satisfy 0 < low <= high, got {self.scaling_range}.")
        if not set(self.mirror_axes) <= set(SPATIAL_AXES) or len(set(self.mirror_axes)) != len(
            self.mirror_axes
        ):
            raise ValueError(
                f"mirror_axes must be distinct entries of {SPATIAL_AXES}, got {self.mirror_axes}."
            )


@dataclass(frozen=True)
class LoaderOptions:
    """How ``PatchLoader`` samples and delivers training batches.

    Attributes:
        patch_size: patch edge lengths (z, y, x), voxels.
        batch_size: patches per batch.
        oversample_fraction: probability that a patch is centred (with a small jitter) on one of the
            case's stored enhancing locations instead of a uniform position.
        enhancement_sampling: which location a centred patch uses: ``"voxel"`` (every stored location
            equally likely) or ``"structure"`` (every connected enhancing structure equally likely, then a
            voxel in it; ``patch_sampling.structure_balanced_weights``).
        augmentation: spatial augmentation options.
        num_workers: background processes that assemble batches; 0 assembles them in the calling process.
        seed: base seed; batch i of the stream is drawn from ``numpy.random.default_rng([seed, i])``
            whichever process assembles it, so the stream does not depend on the number of workers.
        first_batch: index i of the stream's first batch (a resumed run starts at its iteration).
        prefetch_per_worker: batches each worker may hold ready ahead of the consumer.
    """

    patch_size: tuple[int, int, int]
    batch_size: int
    oversample_fraction: float = 0.33
    enhancement_sampling: EnhancementSampling = "voxel"
    augmentation: AugmentationOptions = field(default_factory=AugmentationOptions)
    num_workers: int = 2
    seed: int = 0
    prefetch_per_worker: int = 2
    first_batch: int = 0

    def __post_init__(self) -> None:
        if len(self.patch_size) != 3 or any(edge < 1 for edge in self.patch_size):
            raise ValueError(
                f"patch_size must be three positive edge lengths (z, y, x), got {self.patch_size}."
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}.")
        _check_probability("oversample_fraction", self.oversample_fraction)
        if self.enhancement_sampling not in ENHANCEMENT_SAMPLING_MODES:
            raise ValueError(
                f"enhancement_sampling must be one of {ENHANCEMENT_SAMPLING_MODES}, got "
                f"{self.enhancement_sampling!r}."
            )
        if self.num_workers < 0:
            raise ValueError(
                f"num_workers must be >= 0 (0 = load in the calling process), got {self.num_workers}."
            )
        if self.prefetch_per_worker < 1:
            raise ValueError(f"prefetch_per_worker must be >= 1, got {self.prefetch_per_worker}.")


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}.")
