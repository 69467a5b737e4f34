"""Patch positions: uniform inside the volume, centred where it is small, jittered around a location."""

from __future__ import annotations

import numpy as np

from gdr_toolkit.training.data.patch_sampling import (
    patch_start_around,
    sample_patch_start,
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
