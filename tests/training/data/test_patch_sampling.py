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


def _two_structures() -> np.ndarray:
    """A 1-voxel structure at (2, 2, 2) and a 3^3 cube at 10..12 with one voxel touching its corner."""
    cube = np.argwhere(np.ones((3, 3, 3), bool)) + 10
    return np.array([[2, 2, 2], *cube.tolist(), [13, 13, 13]], np.int32)


def test_structure_weights_split_each_structure_evenly_with_26_connectivity():
    weights = structure_balanced_weights(_two_structures(), (16, 16, 16))
    assert weights[0] == pytest.approx(0.5)  # the single voxel: one of two structures
    np.testing.assert_allclose(weights[1:], 0.5 / 28)  # cube + the corner-touching voxel: one structure
    assert weights.sum() == pytest.approx(1.0)
    assert structure_balanced_weights(np.zeros((0, 3), np.int32), (4, 4, 4)).shape == (0,)


def test_structure_weights_draw_the_small_structure_half_of_the_time():
    locations, rng = _two_structures(), np.random.default_rng(3)
    weights = structure_balanced_weights(locations, (16, 16, 16))

    def fraction_near_small(location_weights):
        starts = [
            sample_patch_start(rng, (16, 16, 16), locations, (8, 8, 8), 1.0, None, location_weights)[0]
            for _ in range(2000)
        ]
        return np.mean([(start + 4 < 6).all() for start in starts])

    assert 0.45 < fraction_near_small(weights) < 0.55
    assert fraction_near_small(None) < 0.07  # per voxel: 1 in 29


def test_loader_draws_each_structure_equally_often(tmp_path):
    from synthetic_cases import P_SD, blob_stack, write_synthetic_case

    stack = blob_stack(shape=(40, 40, 40), seed=4)
    stack[P_SD] = 0.0
    stack[P_SD, 4:6, 4:6, 4:6] = 1.0  # 8 voxels
    stack[P_SD, 20:30, 20:30, 20:30] = 1.0  # 1,000 voxels
    write_synthetic_case(tmp_path, "two_lesions", stack)
    dataset = PreprocessedDataset(tmp_path, ["two_lesions"])
    base = {"patch_size": (8, 8, 8), "batch_size": 1, "oversample_fraction": 1.0, "num_workers": 0}
    for mode, low, high in (("structure", 0.4, 0.6), ("voxel", 0.0, 0.03)):
        options = LoaderOptions(**base, enhancement_sampling=mode)
        draws = [draw_patch(np.random.default_rng(seed), dataset, options) for seed in range(300)]
        near_small = np.mean([max(draw.start_zyx) + 4 < 10 for draw in draws])
        assert low <= near_small <= high, mode


def test_unknown_enhancement_sampling_is_refused():
    with pytest.raises(ValueError, match="enhancement_sampling"):
        LoaderOptions(patch_size=(8, 8, 8), batch_size=1, enhancement_sampling="lesion")  # type: ignore[arg-type]
