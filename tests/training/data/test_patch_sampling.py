"""Patch positions: uniform inside the volume, centred where it is small, jittered around a location; enhancing
locations drawn per voxel or per connected structure."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.training.data import LoaderOptions, PreprocessedDataset, draw_patch
from gdr_toolkit.training.data.patch_sampling import (
    patch_start_around,
    sample_patch_start,
    structure_balanced_weights,
    uniform_patch_start,
)


def test_uniform_start_keeps_the_patch_inside_and_reaches_both_ends():
    rng = np.random.default_rng(0)
    starts = np.array([uniform_patch_start(rng, (20, 30, 16), (16, 16, 16)) for _ in range(500)])
    assert starts.min(0).tolist() == [0, 0, 0]
    assert starts.max(0).tolist() == [4, 14, 0]


def test_uniform_start_centres_a_patch_larger_than_the_volume():
    start = uniform_patch_start(np.random.default_rng(0), (10, 40, 40), (16, 16, 16))
    assert start[0] == -3


def test_start_around_a_location_is_centred_up_to_an_eighth_of_the_patch():
    rng = np.random.default_rng(1)
    centres = np.array([patch_start_around(rng, (5, 20, 30), (32, 16, 24)) for _ in range(500)]) + [16, 8, 12]
    offsets = centres - [5, 20, 30]
    assert np.abs(offsets).max(0).tolist() == [4, 2, 3]


def test_case_without_locations_falls_back_to_uniform():
    start, oversampled = sample_patch_start(
        np.random.default_rng(0), (20, 20, 20), np.zeros((0, 3), np.int32), (8, 8, 8), oversample_fraction=1.0
    )
    assert not oversampled and ((0 <= start) & (start <= 12)).all()


def _structures() -> np.ndarray:
    """Boolean (16, 16, 16): a 2^3 cube at 1..2, a 3^3 cube at 10..12 with one voxel touching its corner,
    and a 1-voxel speckle at (6, 6, 14)."""
    mask = np.zeros((16, 16, 16), bool)
    mask[1:3, 1:3, 1:3] = True
    mask[10:13, 10:13, 10:13] = True
    mask[13, 13, 13] = True
    mask[6, 6, 14] = True
    return mask


def test_structure_weights_split_each_structure_evenly_with_26_connectivity_and_skip_speckle():
    mask = _structures()
    locations = np.argwhere(mask)
    weights = structure_balanced_weights(locations, mask, min_voxels=4)
    small = (locations < 3).all(1)
    speckle = (locations == [6, 6, 14]).all(1)
    np.testing.assert_allclose(weights[small], 0.5 / 8)  # one of two structures, 8 voxels
    np.testing.assert_allclose(weights[~small & ~speckle], 0.5 / 28)  # cube + the corner-touching voxel
    assert weights[speckle] == 0.0 and weights.sum() == pytest.approx(1.0)
    assert structure_balanced_weights(np.zeros((0, 3), np.int32), mask) is None
    assert structure_balanced_weights(np.array([[6, 6, 14]]), mask, 4) is None  # only speckle: uniform
    assert structure_balanced_weights(locations, mask)[small].sum() == 0.0  # default: at least 10 voxels


def test_structure_weights_count_a_subsample_per_structure_of_the_full_mask():
    mask = np.zeros((12, 12, 12), bool)
    mask[2, 2:10, 2] = True  # a thin vessel of 8 voxels, subsampled to every other voxel (not 26-connected)
    mask[8:10, 8:10, 8:10] = True
    locations = np.array([[2, y, 2] for y in range(2, 10, 2)] + [[8, 8, 8], [9, 9, 9]])
    weights = structure_balanced_weights(locations, mask, min_voxels=4)
    np.testing.assert_allclose(weights, [1 / 8] * 4 + [1 / 4] * 2)  # two structures, not five


def test_structure_weights_draw_the_small_structure_half_of_the_time():
    mask, rng = _structures(), np.random.default_rng(3)
    locations = np.argwhere(mask)
    weights = structure_balanced_weights(locations, mask, min_voxels=4)

    def fraction_near_small(location_weights):
        starts = [
            sample_patch_start(rng, (16, 16, 16), locations, (8, 8, 8), 1.0, None, location_weights)[0]
            for _ in range(2000)
        ]
        return np.mean([(start + 4 < 5).all() for start in starts])

    assert 0.45 < fraction_near_small(weights) < 0.55
    assert fraction_near_small(None) < 0.3  # per voxel: 8 in 37


def test_loader_draws_each_structure_equally_often_and_never_speckle(tmp_path):
    from synthetic_cases import P_SD, blob_stack, write_synthetic_case

    stack = blob_stack(shape=(40, 40, 40), seed=4)
    stack[P_SD] = 0.0
    stack[P_SD, 3:6, 3:6, 3:6] = 1.0  # 27 voxels
    stack[P_SD, 20:30, 20:30, 20:30] = 1.0  # 1,000 voxels
    stack[P_SD, 34:40:2, 2:40:2, 34:40:2] = 0.7  # 171 isolated speckle voxels
    write_synthetic_case(tmp_path, "two_lesions", stack)
    dataset = PreprocessedDataset(tmp_path, ["two_lesions"])
    base = {"patch_size": (8, 8, 8), "batch_size": 1, "oversample_fraction": 1.0, "num_workers": 0}
    for mode, low, high in (("structure", 0.4, 0.6), ("voxel", 0.0, 0.03)):
        options = LoaderOptions(**base, enhancement_sampling=mode)
        draws = [draw_patch(np.random.default_rng(seed), dataset, options) for seed in range(300)]
        near_small = np.mean([max(draw.start_zyx) + 4 < 10 for draw in draws])
        near_speckle = np.mean([draw.start_zyx[0] + 4 >= 33 for draw in draws])
        assert low <= near_small <= high, mode
        assert (near_speckle == 0.0) == (mode == "structure"), mode


def test_unknown_enhancement_sampling_is_refused():
    with pytest.raises(ValueError, match="enhancement_sampling"):
        LoaderOptions(patch_size=(8, 8, 8), batch_size=1, enhancement_sampling="lesion")  # type: ignore[arg-type]
