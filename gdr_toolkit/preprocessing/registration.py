"""Rigid and affine image registration with itk-elastix, behind one typed function.

``register`` takes SimpleITK images (any spacing, origin and direction cosines; registration happens in
physical space, LPS millimetres) and returns a :class:`RegistrationResult`. Elastix's string-typed
parameter maps never leave this module: the result exposes a SimpleITK transform, a parameter-file
writer/reader and a ``resample`` method.

Convention (elastix's and SimpleITK's alike): the transform maps a point of the FIXED image's physical
space to the corresponding point of the MOVING image's physical space, ``x_moving = T(x_fixed)``, which is
what resampling the moving image onto the fixed grid needs. Rigid and affine maps rotate/scale about the
map's ``CenterOfRotationPoint`` c: ``T(x) = A (x - c) + c + t``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import itk
import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import check_finite
from gdr_toolkit.file_io import atomic_path

logger = logging.getLogger(__name__)

TransformKind = Literal["rigid", "affine"]
Interpolation = Literal["bspline", "linear", "nearest"]
Initialisation = Literal["geometry", "moments", "none"]

_ELASTIX_TRANSFORM = {"rigid": "EulerTransform", "affine": "AffineTransform"}
_ELASTIX_INITIALISATION = {"geometry": "GeometricalCenter", "moments": "CenterOfGravity"}
_SITK_INTERPOLATOR = {
    "bspline": sitk.sitkBSpline,
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
}
_TRANSFORMIX_INTERPOLATOR = {
    "bspline": ("FinalBSplineInterpolator", "3"),
    "linear": ("FinalLinearInterpolator", "1"),
    "nearest": ("FinalNearestNeighborInterpolator", "0"),
}
_NO_INITIAL_TRANSFORM = "NoInitialTransform"

ParameterMap = Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class RegistrationOptions:
    """Options of one elastix registration (one stage; ``register_cascade`` chains several).

    Attributes:
        transform: "rigid" (elastix EulerTransform, 6 parameters) or "affine" (12 parameters).
        number_of_resolutions: levels of the smoothing pyramid (shrink 2^(n-1) ... 1).
        iterations_per_resolution: adaptive stochastic gradient descent iterations per level. The
            elastix default maps use 256; 128 halves the time at the same accuracy (documentation).
        number_of_spatial_samples: random samples per iteration for the Mattes mutual information.
        number_of_histogram_bins: joint histogram bins of the mutual information.
        initialisation: align the "geometry" centres (image extents), the intensity "moments" (centres
            of gravity), or "none". Only used by the first stage of a cascade.
        number_of_threads: elastix threads; None lets ITK choose (all cores).
        random_seed: seed of elastix's sampler, for reproducible results.
    """

    transform: TransformKind = "rigid"
    number_of_resolutions: int = 3
    iterations_per_resolution: int = 128
    number_of_spatial_samples: int = 2048
    number_of_histogram_bins: int = 32
    initialisation: Initialisation = "geometry"
    number_of_threads: int | None = None
    random_seed: int = 121212

    def __post_init__(self) -> None:
        if self.transform not in _ELASTIX_TRANSFORM:
            raise ValueError(f"transform must be 'rigid' or 'affine', got {self.transform!r}.")
        if self.initialisation not in ("geometry", "moments", "none"):
            raise ValueError(
                f"initialisation must be 'geometry', 'moments' or 'none', got {self.initialisation!r}."
            )
        for name in ("number_of_resolutions", "iterations_per_resolution", "number_of_spatial_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.number_of_histogram_bins < 4:
            raise ValueError(f"number_of_histogram_bins must be >= 4, got {self.number_of_histogram_bins}.")
        if self.number_of_threads is not None and self.number_of_threads < 1:
            raise ValueError(f"number_of_threads must be None or >= 1, got {self.number_of_threads}.")


@dataclass(frozen=True)
class RegistrationResult:
    """The transform found by elastix, kept as its (read-only) transform parameter map(s).

    Attributes:
        parameter_maps: elastix transform parameter maps, applied in order (map 0 first, as elastix's
            initial transform), each a read-only mapping ``key -> tuple of strings``.
    """

    parameter_maps: tuple[ParameterMap, ...]

    @property
    def transform_kinds(self) -> tuple[TransformKind, ...]:
        """The kind of every stage, in application order."""
        names = {value: key for key, value in _ELASTIX_TRANSFORM.items()}
        return tuple(names[pmap["Transform"][0]] for pmap in self.parameter_maps)  # type: ignore[misc]

    def to_sitk_transform(self) -> sitk.Transform:
        """The transform as SimpleITK object mapping fixed to moving physical points (mm, LPS).

        Returns:
            An ``Euler3DTransform`` for a single rigid stage, otherwise one ``AffineTransform`` equal to
            the composition of all stages.
        """
        transforms = [_map_to_sitk(pmap) for pmap in self.parameter_maps]
        if len(transforms) == 1:
            return transforms[0]
        return _compose_affine(transforms)

    def save_parameter_file(self, path: Path | str) -> None:
        """Write the transform as one elastix/transformix TransformParameters file (atomic).

        A cascade is written as the single equivalent affine map, so that the file stands alone.
        """
        pmap = self.parameter_maps[0] if len(self.parameter_maps) == 1 else _collapsed_map(self)
        parameter_object = _parameter_object([_with_grid_of(pmap, self.parameter_maps[-1])])
        with atomic_path(path) as temporary:
            parameter_object.WriteParameterFile(str(temporary))

    @classmethod
    def from_parameter_file(cls, path: Path | str) -> RegistrationResult:
        """Read an elastix TransformParameters file (following its InitialTransformParameterFileName chain)."""
        maps: list[ParameterMap] = []
        next_path: Path | None = Path(path)
        while next_path is not None:
            if not next_path.is_file():
                raise FileNotFoundError(f"Elastix transform parameter file {next_path} does not exist.")
            parameter_object = itk.ParameterObject.New()
            parameter_object.ReadParameterFile(str(next_path))
            pmap = _frozen_map(parameter_object.GetParameterMap(0))
            if pmap.get("Transform", ("",))[0] not in _ELASTIX_TRANSFORM.values():
                raise ValueError(
                    f"{next_path}: Transform {pmap.get('Transform')} is not supported; expected "
                    f"one of {sorted(_ELASTIX_TRANSFORM.values())}."
                )
            maps.insert(0, pmap)
            initial = pmap.get("InitialTransformParameterFileName", (_NO_INITIAL_TRANSFORM,))[0]
            next_path = None if initial == _NO_INITIAL_TRANSFORM else (Path(path).parent / initial)
        return cls(parameter_maps=tuple(maps))

    def resample(
        self,
        moving: sitk.Image,
        fixed_reference: sitk.Image,
        interpolation: Interpolation = "bspline",
        default_value: float = 0.0,
        backend: Literal["simpleitk", "transformix"] = "simpleitk",
    ) -> sitk.Image:
        """Map ``moving`` onto the grid (size, spacing, origin, direction) of ``fixed_reference``.

        Args:
            moving: 3D image in the moving space of the registration.
            fixed_reference: image whose grid the output takes (its voxel values are not used).
            interpolation: "bspline" (cubic), "linear" or "nearest" (for masks and labels: output
                keeps the input pixel type and its values).
            default_value: value outside the moving image's field of view.
            backend: SimpleITK's Resample with :meth:`to_sitk_transform` (fast) or elastix's
                transformix with a copy of the parameter maps (the maps here are never edited).

        Returns:
            The resampled image: float32 for "bspline"/"linear", the moving pixel type for "nearest".
        """
        _check_image(moving, "moving")
        _check_image(fixed_reference, "fixed_reference")
        if interpolation not in _SITK_INTERPOLATOR:
            raise ValueError(
                f"interpolation must be 'bspline', 'linear' or 'nearest', got {interpolation!r}."
            )
        if backend == "transformix":
            return _resample_transformix(self, moving, fixed_reference, interpolation, default_value)
        if backend != "simpleitk":
            raise ValueError(f"backend must be 'simpleitk' or 'transformix', got {backend!r}.")
        pixel_type = moving.GetPixelID() if interpolation == "nearest" else sitk.sitkFloat32
        source = moving if interpolation == "nearest" else sitk.Cast(moving, sitk.sitkFloat32)
        return sitk.Resample(
            source,
            fixed_reference,
            self.to_sitk_transform(),
            _SITK_INTERPOLATOR[interpolation],
            default_value,
            pixel_type,
        )


def register(
    fixed: sitk.Image,
    moving: sitk.Image,
    options: RegistrationOptions | tuple[RegistrationOptions, ...] = RegistrationOptions(),
    fixed_mask: sitk.Image | None = None,
    moving_mask: sitk.Image | None = None,
    initial: RegistrationResult | None = None,
) -> RegistrationResult:
    """Register ``moving`` to ``fixed`` (Mattes mutual information, multi-resolution, elastix).

    Args:
        fixed: 3D scalar image (any pixel type, any geometry); the result maps its physical points.
        moving: 3D scalar image in its own physical space.
        options: one stage, or a tuple of stages run as a cascade (e.g. rigid then affine), each stage
            starting from the previous one's transform.
        fixed_mask: optional 3D mask (non-zero = inside) restricting the metric's samples in fixed space.
        moving_mask: optional 3D mask; samples mapping outside it are rejected.
        initial: a previous result to start from; its maps come first in the returned result.

    Returns:
        The transform, fixed -> moving physical points (mm).

    Raises:
        ValueError: an image is not 3D scalar, holds NaN/inf, or a mask is empty.
    """
    stages = options if isinstance(options, tuple) else (options,)
    if not stages or not all(isinstance(stage, RegistrationOptions) for stage in stages):
        raise ValueError(
            f"options must be RegistrationOptions or a non-empty tuple of them, got {options!r}."
        )
    _check_image(fixed, "fixed")
    _check_image(moving, "moving")
    check_finite(fixed, "fixed image")
    check_finite(moving, "moving image")
    method = itk.ElastixRegistrationMethod.New(_to_itk(fixed, itk.F), _to_itk(moving, itk.F))
    method.SetParameterObject(
        _parameter_object(
            [
                _stage_map(stage, index + (initial is not None), fixed_mask is not None)
                for index, stage in enumerate(stages)
            ]
        )
    )
    for mask, name, setter in (
        (fixed_mask, "fixed_mask", method.SetFixedMask),
        (moving_mask, "moving_mask", method.SetMovingMask),
    ):
        if mask is not None:
            setter(_mask_to_itk(mask, name))
    if initial is not None:
        method.SetInitialTransformParameterObject(_parameter_object(list(initial.parameter_maps)))
    method.SetLogToConsole(False)
    method.SetLogToFile(False)
    if stages[0].number_of_threads is not None:
        method.SetNumberOfThreads(stages[0].number_of_threads)
    try:
        method.Update()
    except RuntimeError as error:
        raise RuntimeError(f"elastix registration failed: {str(error).strip().splitlines()[-1]}") from error
    result_object = method.GetTransformParameterObject()
    maps = tuple(
        _frozen_map(result_object.GetParameterMap(i)) for i in range(result_object.GetNumberOfParameterMaps())
    )
    logger.debug("registration %s finished", [stage.transform for stage in stages])
    return RegistrationResult(parameter_maps=maps)


def _check_image(image: sitk.Image, name: str) -> None:
    if not isinstance(image, sitk.Image):
        raise ValueError(f"{name} must be a SimpleITK image, got {type(image).__name__}.")
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(
            f"{name}: expected a single-channel 3D image, got dimension {image.GetDimension()} with "
            f"{image.GetNumberOfComponentsPerPixel()} component(s) per voxel."
        )


def _to_itk(image: sitk.Image, pixel: object) -> itk.Image:
    """Copy a SimpleITK image into an itk image, keeping spacing, origin and direction."""
    dtype = np.float32 if pixel is itk.F else np.uint8
    converted = itk.image_from_array(np.ascontiguousarray(sitk.GetArrayViewFromImage(image), dtype=dtype))
    converted.SetSpacing(image.GetSpacing())
    converted.SetOrigin(image.GetOrigin())
    converted.SetDirection(
        itk.matrix_from_array(np.array(image.GetDirection(), dtype=np.float64).reshape(3, 3))
    )
    return converted


def _mask_to_itk(mask: sitk.Image, name: str) -> itk.Image:
    _check_image(mask, name)
    binary = sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise ValueError(f"{name} is empty (no non-zero voxel); pass None to register without a mask.")
    return _to_itk(binary, itk.UC)


def _stage_map(stage: RegistrationOptions, index: int, fixed_mask: bool) -> dict[str, tuple[str, ...]]:
    """Elastix map of one stage. With a fixed mask, samples are drawn from the mask's voxels
    (RandomSparseMask): RandomCoordinate fails ("could not find enough image samples") with masks on
    oblique grids."""
    initialisation = stage.initialisation if index == 0 else "none"
    pmap: dict[str, tuple[str, ...]] = {
        "Registration": ("MultiResolutionRegistration",),
        "Metric": ("AdvancedMattesMutualInformation",),
        "NumberOfHistogramBins": (str(stage.number_of_histogram_bins),),
        "Optimizer": ("AdaptiveStochasticGradientDescent",),
        "AutomaticParameterEstimation": ("true",),
        "AutomaticScalesEstimation": ("true",),
        "Transform": (_ELASTIX_TRANSFORM[stage.transform],),
        "NumberOfResolutions": (str(stage.number_of_resolutions),),
        "MaximumNumberOfIterations": (str(stage.iterations_per_resolution),),
        "FixedImagePyramid": ("FixedSmoothingImagePyramid",),
        "MovingImagePyramid": ("MovingSmoothingImagePyramid",),
        "ImageSampler": ("RandomSparseMask" if fixed_mask else "RandomCoordinate",),
        "NewSamplesEveryIteration": ("true",),
        "NumberOfSpatialSamples": (str(stage.number_of_spatial_samples),),
        "CheckNumberOfSamples": ("true",),
        "MaximumNumberOfSamplingAttempts": ("8",),
        "RandomSeed": (str(stage.random_seed),),
        "Interpolator": ("LinearInterpolator",),
        "ResampleInterpolator": ("FinalBSplineInterpolator",),
        "FinalBSplineInterpolationOrder": ("3",),
        "Resampler": ("DefaultResampler",),
        "DefaultPixelValue": ("0",),
        "WriteResultImage": ("false",),
        "WriteIterationInfo": ("false",),
        "HowToCombineTransforms": ("Compose",),
        "AutomaticTransformInitialization": ("false" if initialisation == "none" else "true",),
    }
    if initialisation != "none":
        pmap["AutomaticTransformInitializationMethod"] = (_ELASTIX_INITIALISATION[initialisation],)
    return pmap


def _parameter_object(maps: Sequence[Mapping[str, tuple[str, ...]]]) -> itk.ParameterObject:
    parameter_object = itk.ParameterObject.New()
    for pmap in maps:
        parameter_object.AddParameterMap({key: tuple(value) for key, value in pmap.items()})
    return parameter_object


def _frozen_map(pmap: Mapping[str, Iterable[object]]) -> ParameterMap:
    return MappingProxyType({str(key): tuple(str(v) for v in value) for key, value in dict(pmap).items()})


def _floats(pmap: ParameterMap, key: str) -> list[float]:
    return [float(value) for value in pmap[key]]


def _map_to_sitk(pmap: ParameterMap) -> sitk.Transform:
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


def _matrix_translation(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """Matrix A and offset o with T(x) = A x + o."""
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)  # type: ignore[attr-defined]
    center = np.array(transform.GetCenter())  # type: ignore[attr-defined]
    translation = np.array(transform.GetTranslation())  # type: ignore[attr-defined]
    return matrix, translation + center - matrix @ center


def _compose_affine(transforms: list[sitk.Transform]) -> sitk.AffineTransform:
    """One affine equal to applying ``transforms`` in order (first applied first), centred like the first."""
    matrix, offset = np.eye(3), np.zeros(3)
    for transform in transforms:
        stage_matrix, stage_offset = _matrix_translation(transform)
        matrix, offset = stage_matrix @ matrix, stage_matrix @ offset + stage_offset
    center = np.array(transforms[0].GetCenter())  # type: ignore[attr-defined]
    composed = sitk.AffineTransform(3)
    composed.SetCenter(center.tolist())
    composed.SetMatrix(matrix.ravel().tolist())
    composed.SetTranslation((matrix @ center + offset - center).tolist())
    return composed


def _collapsed_map(result: RegistrationResult) -> ParameterMap:
    affine = result.to_sitk_transform()
    assert isinstance(affine, sitk.AffineTransform)  # internal: cascades compose to an affine
    pmap = dict(result.parameter_maps[-1])
    pmap.update(
        {
            "Transform": ("AffineTransform",),
            "NumberOfParameters": ("12",),
            "TransformParameters": tuple(repr(float(v)) for v in affine.GetParameters()),
            "CenterOfRotationPoint": tuple(repr(float(v)) for v in affine.GetCenter()),
            "InitialTransformParameterFileName": (_NO_INITIAL_TRANSFORM,),
        }
    )
    return MappingProxyType(pmap)


def _with_grid_of(pmap: ParameterMap, grid_source: ParameterMap) -> dict[str, tuple[str, ...]]:
    copied = dict(pmap)
    for key in ("Size", "Index", "Spacing", "Origin", "Direction"):
        if key in grid_source:
            copied[key] = grid_source[key]
    return copied


def _grid_entries(reference: sitk.Image) -> dict[str, tuple[str, ...]]:
    """Elastix's output-grid keys; elastix stores Direction column by column (ITK matrix transposed)."""
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    return {
        "Size": tuple(str(v) for v in reference.GetSize()),
        "Index": ("0", "0", "0"),
        "Spacing": tuple(repr(float(v)) for v in reference.GetSpacing()),
        "Origin": tuple(repr(float(v)) for v in reference.GetOrigin()),
        "Direction": tuple(repr(float(v)) for v in direction.T.ravel()),
    }


def _resample_transformix(
    result: RegistrationResult,
    moving: sitk.Image,
    fixed_reference: sitk.Image,
    interpolation: Interpolation,
    default_value: float,
) -> sitk.Image:
    """Transformix on COPIES of the maps with the reference grid and interpolator put in."""
    interpolator, order = _TRANSFORMIX_INTERPOLATOR[interpolation]
    edits = _grid_entries(fixed_reference) | {
        "ResampleInterpolator": (interpolator,),
        "FinalBSplineInterpolationOrder": (order,),
        "DefaultPixelValue": (repr(float(default_value)),),
        "ResultImagePixelType": ("float",),
    }
    copies = [dict(pmap) | edits for pmap in result.parameter_maps]
    transformix = itk.TransformixFilter.New(_to_itk(moving, itk.F))
    transformix.SetTransformParameterObject(_parameter_object(copies))
    transformix.SetLogToConsole(False)
    transformix.SetLogToFile(False)
    transformix.Update()
    array = itk.array_from_image(transformix.GetOutput())
    if interpolation == "nearest":
        array = array.astype(sitk.GetArrayViewFromImage(moving).dtype)
    output = sitk.GetImageFromArray(array)
    output.CopyInformation(fixed_reference)
    return output
