"""Cost of validating a DICOM series before stacking it: ``read_dicom_series`` (pydicom reads every file
whole for the checks, then GDCM reads the pixels and the geometry is checked) against GDCM's plain read.

A scanner-like series (256 x 256 x 112 int16, one file per slice, written by the tests' builder) is read
``--repeats`` times each way, interleaved; prints the medians and the ratio.

Usage:
    python benchmarks/dicom_series_read.py [--slices 112] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "dataset"))
from mr_series_builder import head_volume, write_mr_series  # noqa: E402

from gdr_toolkit.dataset.dicom_io import read_dicom_series  # noqa: E402


def plain_gdcm_read(folder: Path) -> sitk.Image:
    """What the toolkit did before: GDCM's series ids and file order, no checks."""
    reader = sitk.ImageSeriesReader()
    series_id = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))[0]
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id))
    return reader.Execute()


def seconds(read: object, folder: Path) -> float:
    start = time.perf_counter()
    read(folder)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=112)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "series"
        write_mr_series(folder, head_volume((args.slices, 256, 256)))
        times: dict[str, list[float]] = {"plain": [], "validated": []}
        for _ in range(args.repeats):  # interleaved: a loaded machine slows both alike
            times["plain"].append(seconds(plain_gdcm_read, folder))
            times["validated"].append(seconds(read_dicom_series, folder))
        plain, validated = (statistics.median(times[name]) for name in ("plain", "validated"))
    print(f"series 256 x 256 x {args.slices}, {args.repeats} reads each (median)")
    print(f"GDCM plain read:        {plain:.3f} s")
    print(f"validated read:         {validated:.3f} s")
    print(f"ratio validated/plain:  {validated / plain:.2f}")


if __name__ == "__main__":
    main()
