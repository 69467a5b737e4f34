"""Writing a real-sized synthetic MR series: seconds and bytes, with and without PC/LD references.

A 240 x 240 x 155 float32 volume (BraTS size, 1 mm) written (a) as compressed NIfTI, (b) as a DICOM series
of a case whose PC is not DICOM (no references), (c) as a DICOM series referencing a 155-slice PC and LD
(SourceImageSequence per slice, every LD instance per slice). Interleaved repeats, medians and ratios.

    python benchmarks/dicom_write.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.dicom_derived_series import Provenance, SeriesSources
from gdr_toolkit.dataset.dicom_headers import read_series_headers
from gdr_toolkit.dataset.dicom_io import DerivedSeries, write_dicom_series
from gdr_toolkit.dataset.image_io import write_image_atomic

SIZE_XYZ = (240, 240, 155)


def volume(seed: int) -> sitk.Image:
    values = np.random.default_rng(seed).normal(500, 100, SIZE_XYZ[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(values)
    image.SetOrigin((-120.0, -120.0, -77.0))
    return image


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write_dicom_series(volume(0), root / "pc", DerivedSeries("T1 PRE"), sources=SeriesSources("bench"))
        write_dicom_series(volume(1), root / "ld", DerivedSeries("T1 LD"), sources=SeriesSources("bench"))
        start = time.perf_counter()
        pc, ld = read_series_headers(root / "pc"), read_series_headers(root / "ld")
        header_seconds = time.perf_counter() - start
        referenced = SeriesSources("bench", pc, ld, Provenance("Trainer__plans__3d", "0123456789ab"))
        variants = {
            "nifti (.nii.gz)": lambda image: write_image_atomic(image, root / "sd.nii.gz"),
            "dicom, no references": lambda image: write_dicom_series(
                image, root / "plain", DerivedSeries("SD"), sources=SeriesSources("bench")
            ),
            "dicom, PC + LD referenced": lambda image: write_dicom_series(
                image, root / "referenced", DerivedSeries("SD"), sources=referenced
            ),
        }
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        image = volume(2)
        for _ in range(args.repeats):
            for name, write in variants.items():
                start = time.perf_counter()
                write(image)
                seconds[name].append(time.perf_counter() - start)
        sizes = {
            "nifti (.nii.gz)": (root / "sd.nii.gz").stat().st_size,
            "dicom, no references": folder_bytes(root / "plain"),
            "dicom, PC + LD referenced": folder_bytes(root / "referenced"),
        }
    baseline = statistics.median(seconds["dicom, no references"])
    print(f"volume {SIZE_XYZ}, {args.repeats} repeats; reading 2 x 155 headers: {header_seconds:.2f} s")
    print(f"{'variant':28s} {'median s':>9s} {'ratio':>6s} {'MB':>7s}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:28s} {median:9.2f} {median / baseline:6.2f} {sizes[name] / 1e6:7.1f}")


if __name__ == "__main__":
    main()
