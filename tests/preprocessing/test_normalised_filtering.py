"""The reduced-grid helpers of normalised filtering against direct formulas: block means (zero-padded
partial blocks) and linear interpolation from block centres (np.interp, edges held)."""

from __future__ import annotations

import numpy as np
import pytest

from gdr_toolkit.preprocessing.normalised_filtering import _block_mean, _upsample_linear


@pytest.mark.parametrize(("shape", "factors"), [((9, 7, 11), (2, 2, 2)), ((10, 5, 8), (3, 1, 4))])
def test_block_mean_counts_missing_voxels_of_a_partial_block_as_zero(shape, factors):
    values = np.random.default_rng(0).random(shape).astype(np.float32)
    padded_shape = [-(-n // f) * f for n, f in zip(shape, factors, strict=True)]
    padded = np.zeros(padded_shape)
    padded[: shape[0], : shape[1], : shape[2]] = values
    blocks = [n // f for n, f in zip(padded_shape, factors, strict=True)]
    expected = padded.reshape(blocks[0], factors[0], blocks[1], factors[1], blocks[2], factors[2]).mean(
        axis=(1, 3, 5)
    )
    np.testing.assert_allclose(_block_mean(values, factors), expected, rtol=1e-6)


@pytest.mark.parametrize(("shape", "factors"), [((9, 7, 11), (2, 2, 2)), ((10, 5, 8), (3, 1, 4))])
def test_upsampling_interpolates_linearly_between_block_centres(shape, factors):
    coarse_shape = [-(-n // f) for n, f in zip(shape, factors, strict=True)]
    coarse = np.random.default_rng(1).random(coarse_shape)
    expected = coarse
    for axis, (factor, size) in enumerate(zip(factors, shape, strict=True)):
        fine_position = (np.arange(size) + 0.5) / factor - 0.5  # in coarse voxels; np.interp holds the edges
        expected = np.apply_along_axis(
            lambda line, where=fine_position: np.interp(where, np.arange(len(line)), line), axis, expected
        )
    np.testing.assert_allclose(_upsample_linear(coarse, factors, shape), expected, rtol=1e-5, atol=1e-6)
