"""Coarse intensity normalisation: divide a scan by its 95th intensity percentile inside the brain.

Paper section 3.1 ("each scan is coarsely normalized by mapping its 95% intensity percentile of the brain
region to 1"); documentation/method.md section 1, step 4. The scale is returned so that the step can be
undone at export (documentation/method.md section 5: outputs are written in PC's original intensity units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdr_toolkit.preprocessing.array_checks import require_brain_mask, require_volume

DEFAULT_PERCENTILE = 95.0


@dataclass(frozen=True, eq=False)
class IntensityNormalisation:
    """Result of :func:`normalise_intensity`.

    Attributes:
        image: float32 array ``(z, y, x)``, the input divided by ``scale`` (dimensionless; its
            ``percentile``-th percentile inside the brain mask is 1).
        scale: the percentile of the input inside the brain, in the input's intensity units (> 0).
            ``image * scale`` restores the input (:func:`denormalise_intensity`).
        percentile: the percentile used, in percent.
    """

    image: np.ndarray
    scale: float
    percentile: float


def brain_percentile(
    image: np.ndarray, brain_mask: np.ndarray, percentile: float = DEFAULT_PERCENTILE
) -> float:
    """Return the ``percentile``-th intensity percentile of ``image`` inside ``brain_mask``.

    Args:
        image: array ``(z, y, x)`` of intensities (any real dtype), finite everywhere.
        brain_mask: boolean (or 0/1) array of the same shape; at least one voxel set.
        percentile: in percent, 0 < percentile <= 100 (default 95).

    Returns:
        The percentile in the image's intensity units (linear interpolation between order statistics,
        numpy's default), as a Python float.

    Raises:
        ValueError: ``percentile`` outside (0, 100], non-finite ``image``, empty or misshaped mask.
    """
    if not 0.0 < float(percentile) <= 100.0:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile!r}.")
    image = require_volume(image, "image")
    mask = require_brain_mask(brain_mask, image.shape)
    return float(np.percentile(image[mask], float(percentile)))


def normalise_intensity(
    image: np.ndarray, brain_mask: np.ndarray, percentile: float = DEFAULT_PERCENTILE
) -> IntensityNormalisation:
    """Divide ``image`` by its ``percentile``-th percentile inside the brain (paper section 3.1).

    Args:
        image: array ``(z, y, x)`` of a T1w scan (PC, LD or SD) on the PC grid, finite, any real dtype.
        brain_mask: boolean (or 0/1) array ``(z, y, x)``, the registered atlas brain mask b.
        percentile: in percent, 0 < percentile <= 100 (default 95).

    Returns:
        :class:`IntensityNormalisation` with the float32 normalised image and the scale.

    Raises:
        ValueError: bad ``percentile``, NaN/inf in ``image``, empty ``brain_mask``, or a percentile value
            <= 0 (for example a blank or negative-valued scan), which cannot be divided by.
    """
    scale = brain_percentile(image, brain_mask, percentile)
    if not scale > 0.0:
        raise ValueError(
            f"image: the {percentile}th percentile inside brain_mask is {scale!r}, expected > 0; "
            "the scan is blank or not a magnitude image inside the brain."
        )
    normalised = (np.asarray(image, dtype=np.float64) / scale).astype(np.float32)
    return IntensityNormalisation(image=normalised, scale=scale, percentile=float(percentile))


def denormalise_intensity(image: np.ndarray, scale: float) -> np.ndarray:
    """Undo :func:`normalise_intensity`: return ``image * scale`` as float32 (input intensity units).

    Args:
        image: array of normalised (dimensionless) intensities, any shape.
        scale: :attr:`IntensityNormalisation.scale` of the scan whose units are wanted (> 0).
    """
    if not (np.isfinite(scale) and scale > 0.0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}.")
    return (np.asarray(image, dtype=np.float64) * float(scale)).astype(np.float32)
