"""The valid-data mask on the training side: which voxels of a patch the loss and the metrics may use.

A preprocessed case stores a ``valid_mask`` channel (1 where every CE scan has data after co-registration,
0 outside its field of view; preprocessing fills the network inputs and sets the targets to 0 there). Data
preprocessed before that channel existed have no such channel: then every voxel is valid.

- The channel travels with the patch and is augmented with the other channels (linear interpolation). A
  voxel stays valid only where the interpolated mask is at least ``VALID_THRESHOLD``, i.e. where every
  voxel the interpolation reads is valid (a target mixed with the zero fill is not trusted).
- Outside the stored volume the channel reads 1 (``PreprocessedDataset.read_patch``), so padding is
  treated as before the channel existed (background of weight lambda1).
- Patch sampling uses a coarse copy of the mask (:class:`ValidityGrid`) to avoid centring a patch in an
  invalid region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

VALID_MASK_CHANNEL = "valid_mask"
VALID_THRESHOLD = 0.999  # interpolated mask value from which a voxel counts as valid
GRID_STRIDE = 8  # voxels per axis of one cell of the coarse validity grid


@dataclass(frozen=True, eq=False)
class ValidityGrid:
    """A case's valid mask subsampled every ``stride`` voxels (for choosing patch centres).

    Attributes:
        valid: bool (ceil(z/stride), ceil(y/stride), ceil(x/stride)); cell (i, j, k) holds the mask at voxel
            (i, j, k) * stride.
        stride: voxels per axis between samples.
    """

    valid: np.ndarray
    stride: int

    @classmethod
    def from_mask(cls, mask: np.ndarray, stride: int = GRID_STRIDE) -> ValidityGrid:
        """From a (z, y, x) 0/1 mask of any dtype (values > 0.5 are valid)."""
        return cls(np.ascontiguousarray(np.asarray(mask)[::stride, ::stride, ::stride] > 0.5), stride)

    def contains(self, location_zyx: Sequence[int]) -> bool:
        """Whether the voxel (z, y, x) is valid, by its nearest sample; voxels outside the volume are not."""
        cell = np.floor_divide(np.asarray(location_zyx, dtype=np.int64) + self.stride // 2, self.stride)
        cell = np.minimum(cell, np.asarray(self.valid.shape) - 1)
        if (cell < 0).any():
            return False
        return bool(self.valid[tuple(cell)])

    @property
    def any_valid(self) -> bool:
        return bool(self.valid.any())

    def random_valid_voxel(self, rng: np.random.Generator) -> np.ndarray:
        """A uniformly drawn valid sample point, int64 (3,) voxel (z, y, x)."""
        cells = np.argwhere(self.valid)
        return cells[rng.integers(len(cells))].astype(np.int64) * self.stride


def valid_voxels(
    data: np.ndarray, channel_index: Mapping[str, int], device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """The valid voxels of a batch, or None when the data have no ``valid_mask`` channel (all valid).

    Args:
        data: float32 (B, C, D, H, W), a loader batch's ``"data"`` (numpy).
        channel_index: channel name -> position in C.
        device: where the result lives.

    Returns:
        bool tensor (B, 1, D, H, W): True where the (augmented) mask is >= ``VALID_THRESHOLD``.
    """
    if VALID_MASK_CHANNEL not in channel_index:
        return None
    channel = np.ascontiguousarray(data[:, channel_index[VALID_MASK_CHANNEL]][:, None] >= VALID_THRESHOLD)
    return torch.from_numpy(channel).to(device)
