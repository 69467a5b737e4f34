"""The evaluation's cache of derived images: keyed by source bytes, exact round trip, reuse across runs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from evaluation_data import write

from gdr_toolkit.evaluation import FolderEvaluationOptions, case_images, evaluate_predictions
from gdr_toolkit.evaluation.derived_cache import DerivedImageCache, entry_key

NAMES = ("image", "field_of_view")


def _oblique_grid() -> sitk.Image:
    grid = sitk.Image(7, 6, 5, sitk.sitkFloat32)
    grid.SetSpacing((1.1, 0.9, 2.5))
    grid.SetOrigin((-10.25, 3.5, 71.125))
    angle = 0.3
    grid.SetDirection((np.cos(angle), -np.sin(angle), 0.0, np.sin(angle), np.cos(angle), 0.0, 0.0, 0.0, 1.0))
    return grid


def _derived(grid: sitk.Image, seed: int = 0) -> dict[str, sitk.Image]:
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.normal(size=(5, 6, 7)).astype(np.float32))
    mask = sitk.GetImageFromArray((rng.random((5, 6, 7)) > 0.5).astype(np.uint8))
    for item in (image, mask):
        item.CopyInformation(grid)
    return {"image": image, "field_of_view": mask}


def _counting(grid: sitk.Image, same_result: bool):
    """A ``compute`` that counts its calls; its n-th result is ``_derived(grid, seed=n)`` (or seed 0)."""
    calls: list[int] = []

    def compute() -> dict[str, sitk.Image]:
        calls.append(1)
        return _derived(grid, seed=0 if same_result else len(calls))

    return calls, compute


def test_key_follows_the_bytes_and_kind_not_the_path(tmp_path) -> None:
    first, copy, other = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    first.write_bytes(b"scan one")
    copy.write_bytes(b"scan one")
    other.write_bytes(b"scan two")
    assert entry_key("mask", [first]) == entry_key("mask", [copy])
    assert entry_key("mask", [first]) != entry_key("mask", [other])
    assert entry_key("mask", [first]) != entry_key("registration", [first])
    assert entry_key("mask", [first, other]) != entry_key("mask", [other, first])


def test_cached_images_equal_the_computed_ones_in_values_dtype_and_geometry(tmp_path) -> None:
    grid, source = _oblique_grid(), tmp_path / "pc.bin"
    source.write_bytes(b"pre-contrast")
    calls, compute = _counting(grid, same_result=True)
    cache = DerivedImageCache(tmp_path / "cache")
    computed = cache.images("coregistered:test", [source], grid, compute, NAMES)
    cached = cache.images("coregistered:test", [source], grid, compute, NAMES)
    assert len(calls) == 1
    assert len(list((tmp_path / "cache").glob("coregistered_*.npz"))) == 1
    for name, image in computed.items():
        again = cached[name]
        assert again.GetPixelID() == image.GetPixelID()
        np.testing.assert_array_equal(sitk.GetArrayFromImage(again), sitk.GetArrayFromImage(image))
        assert again.GetSpacing() == image.GetSpacing()
        assert again.GetOrigin() == image.GetOrigin()
        assert again.GetDirection() == image.GetDirection()


def test_changed_source_damaged_entry_and_no_folder_recompute(tmp_path) -> None:
    grid, source = _oblique_grid(), tmp_path / "pc.bin"
    source.write_bytes(b"version 1")
    calls, compute = _counting(grid, same_result=False)
    cache = DerivedImageCache(tmp_path / "cache")
    cache.images("mask:atlas", [source], grid, compute, NAMES)
    source.write_bytes(b"version 2")  # a replaced scan must not get the old mask
    cache.images("mask:atlas", [source], grid, compute, NAMES)
    assert len(calls) == 2
    entry = tmp_path / "cache" / f"mask_{entry_key('mask:atlas', [source])}.npz"
    whole = entry.read_bytes()
    damages = {
        "not an archive": b"not an npz archive",
        "truncated archive": whole[: len(whole) // 2],
        "a name missing": _archive_without_field_of_view(grid),
    }
    for count, damaged in enumerate(damages.values(), start=3):
        entry.write_bytes(damaged)
        recomputed = cache.images("mask:atlas", [source], grid, compute, NAMES)
        assert len(calls) == count
        np.testing.assert_array_equal(
            sitk.GetArrayFromImage(recomputed["image"]),
            sitk.GetArrayFromImage(_derived(grid, seed=count)["image"]),
        )
    DerivedImageCache(None).images("mask:atlas", [source], grid, compute, NAMES)
    DerivedImageCache(None).images("mask:atlas", [source], grid, compute, NAMES)
    assert len(calls) == 7


def _archive_without_field_of_view(grid: sitk.Image) -> bytes:
    stream = io.BytesIO()
    np.savez_compressed(stream, image=sitk.GetArrayFromImage(_derived(grid)["image"]))
    return stream.getvalue()


def test_computed_names_must_be_the_declared_ones(tmp_path) -> None:
    grid, source = _oblique_grid(), tmp_path / "pc.bin"
    source.write_bytes(b"pc")
    with pytest.raises(ValueError, match="expected"):
        DerivedImageCache(tmp_path / "cache").images("x", [source], grid, lambda: _derived(grid), ("mask",))


def test_an_image_off_the_grid_is_refused(tmp_path) -> None:
    grid, source = _oblique_grid(), tmp_path / "pc.bin"
    source.write_bytes(b"pc")
    shifted = _derived(grid)
    shifted["image"].SetOrigin((0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="'image'.*evaluation grid"):
        DerivedImageCache(tmp_path / "cache").images("coregistered:x", [source], grid, lambda: shifted, NAMES)


def _count_calls(monkeypatch) -> dict[str, int]:
    """Replace the atlas mask and the co-registration by exact stand-ins that count their calls."""
    calls = {"mask": 0, "coregistered": 0}

    def brain_mask(pre_contrast: sitk.Image, rule: str) -> sitk.Image:
        calls["mask"] += 1
        mask = sitk.BinaryThreshold(pre_contrast, 60.0, 1e9, 1, 0)
        return mask

    def coregistered(
        moving: sitk.Image, pre_contrast: sitk.Image, brain: sitk.Image
    ) -> dict[str, sitk.Image]:
        calls["coregistered"] += 1
        image = sitk.Cast(moving, sitk.sitkFloat32)
        image.CopyInformation(pre_contrast)
        field_of_view = sitk.GetImageFromArray(np.ones(sitk.GetArrayFromImage(moving).shape, np.uint8))
        field_of_view.CopyInformation(pre_contrast)
        return {"image": image, "field_of_view": field_of_view}

    monkeypatch.setattr(case_images, "derive_brain_mask", brain_mask)
    monkeypatch.setattr(case_images, "coregistered_to_pre_contrast", coregistered)
    return calls


def _evaluate(folders: dict[str, Path], cache: Path | None):
    return evaluate_predictions(
        folders["targets"],
        folders["pred"],
        pre_contrast_folder=folders["images"],
        lesion_folder=folders["lesions"],
        suffix=("_sd", "_sdplus"),
        options=FolderEvaluationOptions(include_low_dose=True, coregister_acquired_scans=True),
        cache_folder=cache,
    )


def test_a_second_evaluation_reuses_masks_and_registrations(
    evaluation_folders, tmp_path, monkeypatch
) -> None:
    calls = _count_calls(monkeypatch)
    uncached = _evaluate(evaluation_folders, None).to_json_dict()
    assert calls == {"mask": 3, "coregistered": 6}  # 3 cases: a mask, x_SD and x_LD each
    cache = tmp_path / "evaluation_cache"
    first = _evaluate(evaluation_folders, cache).to_json_dict()
    assert calls == {"mask": 6, "coregistered": 12}
    second = _evaluate(evaluation_folders, cache).to_json_dict()
    assert calls == {"mask": 6, "coregistered": 12}
    assert first == uncached and second == uncached
    # a new reference scan of one case: its registration is redone, nothing else
    target = evaluation_folders["targets"] / "case_b.nii.gz"
    array = sitk.GetArrayFromImage(sitk.ReadImage(str(target)))
    write(array * 1.01, target)
    third = _evaluate(evaluation_folders, cache).to_json_dict()
    assert calls == {"mask": 6, "coregistered": 13}
    assert third["cases"]["case_a"] == first["cases"]["case_a"]
    assert third != first
