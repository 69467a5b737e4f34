"""Rigid and affine image registration with itk-elastix, behind one typed function.

``register`` takes SimpleITK images (any spacing, origin and direction cosines; registration happens in
physical space, LPS millimetres) and returns a :class:`RegistrationResult`. Elastix's string-typed
parameter maps never leave this module and its helper :mod:`elastix_maps`: the result exposes a SimpleITK transform, a parameter-file
writer/reader and a ``resample`` method.

Convention (elastix's and SimpleITK's alike): the transform maps a point of the FIXED image's physical
space to the corresponding point of the MOVING image's physical space, ``x_moving = T(x_fixed)``, which is
what resampling the moving image onto the fixed grid needs. Rigid and affine maps rotate/scale about the
map's ``CenterOfRotationPoint`` c: ``T(x) = A (x - c) + c + t``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import itk
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import check_finite, require_scalar_3d
from gdr_toolkit.file_io import atomic_path
from gdr_toolkit.preprocessing.elastix_maps import (
    ELASTIX_TRANSFORM,
    NO_INITIAL_TRANSFORM,
    ParameterMap,
    collapsed_map,
    frozen_map,
    grid_entries,
    maps_to_sitk,
    parameter_object,
    to_itk,
    with_grid_of,
)
from gdr_toolkit.preprocessing.working_grid import working_image, working_mask

logger = logging.getLogger(__name__)

TransformKind = Literal["rigid", "affine"]
Interpolation = Literal["bspline", "linear", "nearest"]
Initialisation = Literal["geometry", "moments", "none"]

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
        working_spacing_mm: register block-averaged copies of the images (and masks) whose voxels are at
            most this coarse (``working_grid``; e.g. 2.0 registers a 1 mm head on 2 mm blocks, 5x less
            elastix time); None registers the images as given. Only the first stage's value is used.
    """

    transform: TransformKind = "rigid"
    number_of_resolutions: int = 3
    iterations_per_resolution: int = 128
    number_of_spatial_samples: int = 2048
    number_of_histogram_bins: int = 32
    initialisation: Initialisation = "geometry"
    number_of_threads: int | None = None
    random_seed: int = 121212
    working_spacing_mm: float | None = None

    def __post_init__(self) -> None:
        if self.transform not in ELASTIX_TRANSFORM:
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
        if self.working_spacing_mm is not None and not self.working_spacing_mm > 0:
            raise ValueError(f"working_spacing_mm must be None or > 0, got {self.working_spacing_mm}.")


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
        names = {value: key for key, value in ELASTIX_TRANSFORM.items()}
        return tuple(names[pmap["Transform"][0]] for pmap in self.parameter_maps)  # type: ignore[misc]

    def to_sitk_transform(self) -> sitk.Transform:
        """The transform as SimpleITK object mapping fixed to moving physical points (mm, LPS).

        Returns:
            An ``Euler3DTransform`` for a single rigid stage, otherwise one ``AffineTransform`` equal to
            the composition of all stages.
        """
        return maps_to_sitk(self.parameter_maps)

    def save_parameter_file(self, path: Path | str) -> None:
        """Write the transform as one elastix/transformix TransformParameters file (atomic).

        A cascade is written as the single equivalent affine map, so that the file stands alone.
        """
        pmap = self.parameter_maps[0] if len(self.parameter_maps) == 1 else collapsed_map(self.parameter_maps)
        stand_alone = parameter_object([with_grid_of(pmap, self.parameter_maps[-1])])
        with atomic_path(path) as temporary:
            stand_alone.WriteParameterFile(str(temporary))

    @classmethod
    def from_parameter_file(cls, path: Path | str) -> RegistrationResult:
        """Read an elastix TransformParameters file (following its InitialTransformParameterFileName chain)."""
        maps: list[ParameterMap] = []
        next_path: Path | None = Path(path)
        while next_path is not None:
            if not next_path.is_file():
                raise FileNotFoundError(f"Elastix transform parameter file {next_path} does not exist.")
            read = itk.ParameterObject.New()
            read.ReadParameterFile(str(next_path))
            pmap = frozen_map(read.GetParameterMap(0))
            if pmap.get("Transform", ("",))[0] not in ELASTIX_TRANSFORM.values():
                raise ValueError(
                    f"{next_path}: Transform {pmap.get('Transform')} is not supported; expected "
                    f"one of {sorted(ELASTIX_TRANSFORM.values())}."
                )
            maps.insert(0, pmap)
            initial = pmap.get("InitialTransformParameterFileName", (NO_INITIAL_TRANSFORM,))[0]
            next_path = None if initial == NO_INITIAL_TRANSFORM else (Path(path).parent / initial)
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
        require_scalar_3d(moving, "moving")
        require_scalar_3d(fixed_reference, "fixed_reference")
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
    stages = _stages(options)
    require_scalar_3d(fixed, "fixed")
    require_scalar_3d(moving, "moving")
    check_finite(fixed, "fixed image")
    check_finite(moving, "moving image")
    working = stages[0].working_spacing_mm
    fixed_working = working_image(fixed, working)
    method = itk.ElastixRegistrationMethod.New(
        to_itk(fixed_working, itk.F), to_itk(working_image(moving, working), itk.F)
    )
    first_index = int(initial is not None)
    maps = [
        _stage_map(stage, index + first_index, fixed_mask is not None) for index, stage in enumerate(stages)
    ]
    method.SetParameterObject(parameter_object(maps))
    for mask, name, setter in (
        (fixed_mask, "fixed_mask", method.SetFixedMask),
        (moving_mask, "moving_mask", method.SetMovingMask),
    ):
        if mask is not None:
            setter(_mask_to_itk(mask, name, working))
    if initial is not None:
        method.SetInitialTransformParameterObject(parameter_object(list(initial.parameter_maps)))
    result = _run(method, stages[0].number_of_threads)
    logger.debug("registration %s finished", [stage.transform for stage in stages])
    if fixed_working is fixed:
        return result
    # Found on the working grid; the maps name the full-resolution grid, as a run on it would.
    full_grid = grid_entries(fixed)
    return RegistrationResult(tuple(frozen_map({**pmap, **full_grid}) for pmap in result.parameter_maps))


def _stages(
    options: RegistrationOptions | tuple[RegistrationOptions, ...],
) -> tuple[RegistrationOptions, ...]:
    stages = options if isinstance(options, tuple) else (options,)
    if not stages or not all(isinstance(stage, RegistrationOptions) for stage in stages):
        raise ValueError(
            f"options must be RegistrationOptions or a non-empty tuple of them, got {options!r}."
        )
    return stages


def _run(method: itk.ElastixRegistrationMethod, number_of_threads: int | None) -> RegistrationResult:
    """Run a configured elastix method quietly; its transform maps, frozen."""
    method.SetLogToConsole(False)
    method.SetLogToFile(False)
    if number_of_threads is not None:
        method.SetNumberOfThreads(number_of_threads)
    try:
        method.Update()
    except RuntimeError as error:
        raise RuntimeError(f"elastix registration failed: {str(error).strip().splitlines()[-1]}") from error
    found = method.GetTransformParameterObject()
    return RegistrationResult(
        parameter_maps=tuple(
            frozen_map(found.GetParameterMap(i)) for i in range(found.GetNumberOfParameterMaps())
        )
    )


def _mask_to_itk(mask: sitk.Image, name: str, working_spacing_mm: float | None) -> itk.Image:
    require_scalar_3d(mask, name)
    binary = working_mask(sitk.Cast(sitk.NotEqual(mask, 0), sitk.sitkUInt8), working_spacing_mm)
    if not sitk.GetArrayViewFromImage(binary).any():
        raise ValueError(f"{name} is empty (no non-zero voxel); pass None to register without a mask.")
    return to_itk(binary, itk.UC)


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
        "Transform": (ELASTIX_TRANSFORM[stage.transform],),
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


def _resample_transformix(
    result: RegistrationResult,
    moving: sitk.Image,
    fixed_reference: sitk.Image,
    interpolation: Interpolation,
    default_value: float,
) -> sitk.Image:
    """Transformix on COPIES of the maps with the reference grid and interpolator put in."""
    interpolator, order = _TRANSFORMIX_INTERPOLATOR[interpolation]
    edits = grid_entries(fixed_reference) | {
        "ResampleInterpolator": (interpolator,),
        "FinalBSplineInterpolationOrder": (order,),
        "DefaultPixelValue": (repr(float(default_value)),),
        "ResultImagePixelType": ("float",),
    }
    copies = [dict(pmap) | edits for pmap in result.parameter_maps]
    transformix = itk.TransformixFilter.New(to_itk(moving, itk.F))
    transformix.SetTransformParameterObject(parameter_object(copies))
    transformix.SetLogToConsole(False)
    transformix.SetLogToFile(False)
    transformix.Update()
    array = itk.array_from_image(transformix.GetOutput())
    if interpolation == "nearest":
        array = array.astype(sitk.GetArrayViewFromImage(moving).dtype)
    output = sitk.GetImageFromArray(array)
    output.CopyInformation(fixed_reference)
    return output
