"""Elastix transform parameter maps: building, freezing, and conversion to SimpleITK transforms.

Used by :mod:`gdr_toolkit.preprocessing.registration` only; elastix's string-typed maps stay behind it.
Convention (elastix's and SimpleITK's alike): a map sends a FIXED physical point (mm, LPS) to the MOVING
physical point, and rigid/affine maps act about their ``CenterOfRotationPoint`` c:
``T(x) = A (x - c) + c + t``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import itk
import numpy as np
import SimpleITK as sitk

ELASTIX_TRANSFORM = {"rigid": "EulerTransform", "affine": "AffineTransform"}
NO_INITIAL_TRANSFORM = "NoInitialTransform"

ParameterMap = Mapping[str, tuple[str, ...]]


def parameter_object(maps: Sequence[Mapping[str, tuple[str, ...]]]) -> itk.ParameterObject:
    """An elastix ParameterObject holding copies of ``maps`` in order."""
    result = itk.ParameterObject.New()
    for pmap in maps:
        result.AddParameterMap({key: tuple(value) for key, value in pmap.items()})
    return result


def frozen_map(pmap: Mapping[str, Iterable[object]]) -> ParameterMap:
    """A read-only copy of an elastix map, every value a tuple of strings."""
    return MappingProxyType({str(key): tuple(str(v) for v in value) for key, value in dict(pmap).items()})


def _floats(pmap: ParameterMap, key: str) -> list[float]:
    return [float(value) for value in pmap[key]]


def map_to_sitk(pmap: ParameterMap) -> sitk.Transform:
    """One elastix Euler/affine map as SimpleITK transform (same convention: fixed -> moving)."""
    parameters = _floats(pmap, "TransformParameters")
    center = _floats(pmap, "CenterOfRotationPoint")
    if pmap["Transform"][0] == "EulerTransform":
        transform = sitk.Euler3DTransform()
        transform.SetCenter(center)
        transform.SetComputeZYX(pmap.get("ComputeZYX", ("false",))[0] == "true")
        transform.SetParameters(parameters)
        return transform
    if pmap["Transform"][0] == "AffineTransform":
        affine = sitk.AffineTransform(3)
        affine.SetCenter(center)
        affine.SetParameters(parameters)
        return affine
    raise ValueError(
        f"Unsupported elastix Transform {pmap['Transform']}; expected EulerTransform or AffineTransform."
    )


def _matrix_offset(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """Matrix A and offset o with T(x) = A x + o."""
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)  # type: ignore[attr-defined]
    center = np.array(transform.GetCenter())  # type: ignore[attr-defined]
    translation = np.array(transform.GetTranslation())  # type: ignore[attr-defined]
    return matrix, translation + center - matrix @ center


def compose_affine(transforms: Sequence[sitk.Transform]) -> sitk.AffineTransform:
    """One affine equal to applying ``transforms`` in order (first applied first), centred like the first."""
    matrix, offset = np.eye(3), np.zeros(3)
    for transform in transforms:
        stage_matrix, stage_offset = _matrix_offset(transform)
        matrix, offset = stage_matrix @ matrix, stage_matrix @ offset + stage_offset
    center = np.array(transforms[0].GetCenter())  # type: ignore[attr-defined]
    composed = sitk.AffineTransform(3)
    composed.SetCenter(center.tolist())
    composed.SetMatrix(matrix.ravel().tolist())
    composed.SetTranslation((matrix @ center + offset - center).tolist())
    return composed


def maps_to_sitk(maps: Sequence[ParameterMap]) -> sitk.Transform:
    """A chain of maps as one SimpleITK transform: Euler3D for a single rigid map, else one affine."""
    transforms = [map_to_sitk(pmap) for pmap in maps]
    return transforms[0] if len(transforms) == 1 else compose_affine(transforms)


def collapsed_map(maps: Sequence[ParameterMap]) -> ParameterMap:
    """A chain of maps as one stand-alone affine map (grid keys of the last map)."""
    affine = compose_affine([map_to_sitk(pmap) for pmap in maps])
    pmap = dict(maps[-1])
    pmap.update(
        {
            "Transform": ("AffineTransform",),
            "NumberOfParameters": ("12",),
            "TransformParameters": tuple(repr(float(v)) for v in affine.GetParameters()),
            "CenterOfRotationPoint": tuple(repr(float(v)) for v in affine.GetCenter()),
            "InitialTransformParameterFileName": (NO_INITIAL_TRANSFORM,),
        }
    )
    return MappingProxyType(pmap)


def with_grid_of(pmap: ParameterMap, grid_source: ParameterMap) -> dict[str, tuple[str, ...]]:
    """A copy of ``pmap`` with the output-grid keys of ``grid_source``."""
    copied = dict(pmap)
    for key in ("Size", "Index", "Spacing", "Origin", "Direction"):
        if key in grid_source:
            copied[key] = grid_source[key]
    return copied


def grid_entries(reference: sitk.Image) -> dict[str, tuple[str, ...]]:
    """Elastix's output-grid keys; elastix stores Direction column by column (ITK matrix transposed)."""
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    return {
        "Size": tuple(str(v) for v in reference.GetSize()),
        "Index": ("0", "0", "0"),
        "Spacing": tuple(repr(float(v)) for v in reference.GetSpacing()),
        "Origin": tuple(repr(float(v)) for v in reference.GetOrigin()),
        "Direction": tuple(repr(float(v)) for v in direction.T.ravel()),
    }


def to_itk(image: sitk.Image, pixel: object) -> itk.Image:
    """Copy a SimpleITK image into an itk image (float32 for ``itk.F``, else uint8), keeping its geometry."""
    dtype = np.float32 if pixel is itk.F else np.uint8
    converted = itk.image_from_array(np.ascontiguousarray(sitk.GetArrayViewFromImage(image), dtype=dtype))
    converted.SetSpacing(image.GetSpacing())
    converted.SetOrigin(image.GetOrigin())
    converted.SetDirection(
        itk.matrix_from_array(np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3))
    )
    return converted
