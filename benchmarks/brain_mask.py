"""Brain mask: main's atlas fit ("old") against the current default ("new"), time and accuracy, one run.

Cases at 1 mm in plane, each with a reference mask (documentation/registration.md, "Brain masks on heads
that are not MNI-like"):

- ``phantom``: the MNI-based full-head test phantom (tests/preprocessing/head_phantom.py), 1 mm;
- ``colin27``: Colin27's head, 1 mm (reference: ch2bet), and ``colin27-x0.85`` / ``colin27-x1.15``;
- ``se-slab``: a 2D T1 spin-echo-like slab of Colin27, 1 x 1 x 5.5 mm, 143 mm
  (tests/preprocessing/colin27_cases.py); ``se-slab-csf3``: the same with the CSF widened by 3 mm;
- ``brats``: the real BraTS pair's pre-contrast scan (skull-stripped; reference: its support).

Colin27 cases need Debian's mricron-data, the BraTS case of tests/conftest.py's REAL_FOLDER; absent ones are skipped.
"old" is ``BrainMaskOptions(registration_spacing_mm=2, number_of_resolutions=3, refine=False,
skull_stripped="never")`` (main's atlas fit: 3 stages at 2 mm, 3 levels), "new" the defaults. Both use
``number_of_threads`` (2). Per case and method: median wall and CPU seconds over ``--repeats`` calls
after one warm-up call in the process (the atlas and ITK are loaded once per process), the volume ratio
to the reference and the Dice. ``--cold`` also times one call in a fresh process (ITK's start-up
included). CPU time is the process's (elastix threads included); on a shared machine the wall time is
inflated by other users, so both are printed with the load average.

Usage:
    python benchmarks/brain_mask.py [--repeats 3] [--cases phantom se-slab brats] [--cold]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "preprocessing"))

from colin27_cases import colin27_available, scaled_head, spin_echo_slab  # type: ignore[import-not-found]  # noqa: E402
from head_phantom import head_phantom  # type: ignore[import-not-found]  # noqa: E402

from gdr_toolkit.preprocessing.brain_mask import BrainMaskOptions, atlas_brain_mask  # noqa: E402

BRATS = ROOT.parent / "shared" / "real" / "BraTS20_Training_186_t1.nii.gz"
Case = tuple[sitk.Image, sitk.Image]


def methods(threads: int) -> dict[str, BrainMaskOptions]:
    return {
        "old": BrainMaskOptions(
            registration_spacing_mm=2.0,
            number_of_resolutions=3,
            refine=False,
            skull_stripped="never",
            number_of_threads=threads,
        ),
        "new": BrainMaskOptions(number_of_threads=threads),
    }


def _brats() -> Case:
    image = sitk.ReadImage(str(BRATS))
    return image, sitk.Cast(sitk.NotEqual(image, 0), sitk.sitkUInt8)


def case_builders() -> dict[str, Callable[[], Case]]:
    builders: dict[str, Callable[[], Case]] = {"phantom": lambda: head_phantom(spacing_mm=1.0)}
    if colin27_available():
        builders |= {
            "colin27": lambda: scaled_head(1.0),
            "colin27-x0.85": lambda: scaled_head(0.85),
            "colin27-x1.15": lambda: scaled_head(1.15),
            "se-slab": spin_echo_slab,
            "se-slab-csf3": lambda: spin_echo_slab(atrophy_mm=3.0),
        }
    if BRATS.is_file():
        builders["brats"] = _brats
    return builders


def _volume_ml(mask: sitk.Image) -> float:
    return float(sitk.GetArrayViewFromImage(mask).astype(bool).sum() * np.prod(mask.GetSpacing()) / 1000.0)


def _dice(a: sitk.Image, b: sitk.Image) -> float:
    x, y = (sitk.GetArrayViewFromImage(m).astype(bool) for m in (a, b))
    return float(2.0 * (x & y).sum() / (x.sum() + y.sum()))


def _timed(image: sitk.Image, options: BrainMaskOptions) -> tuple[float, float, sitk.Image, str]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = atlas_brain_mask(image, options)
    return time.perf_counter() - wall, time.process_time() - cpu, result.mask, result.source


def _cold_seconds(case: str, method: str, threads: int) -> tuple[float, float]:
    """Wall seconds of one call in a fresh process (imports, ITK start-up and building the case included)
    and the CPU seconds of that process."""
    code = (
        "import sys, time; start = time.perf_counter(); "
        f"sys.argv = ['x', '--repeats', '0', '--cases', '{case}', '--threads', '{threads}', "
        f"'--only', '{method}']; import runpy; runpy.run_path('{__file__}', run_name='__main__'); "
        "print('COLD', time.perf_counter() - start)"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=dict(os.environ)
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return float(next(line.split()[1] for line in output.splitlines() if line.startswith("COLD"))), cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=None, help="case names (default: all available)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("old", "new"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cold", action="store_true", help="also time one call in a fresh process")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    builders = case_builders()
    names = args.cases or list(builders)
    options = methods(args.threads)
    if args.only is not None:
        options = {args.only: options[args.only]}
    if args.repeats == 0:  # the fresh-process call of --cold
        image, _ = builders[names[0]]()
        atlas_brain_mask(image, next(iter(options.values())))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.threads} elastix threads")
    print("case | method | wall s (median) | CPU s (median) | volume / reference | Dice | source")
    warmed = False
    medians: dict[tuple[str, str], float] = {}
    for name in names:
        image, reference = builders[name]()
        for method, method_options in options.items():
            if not warmed:
                atlas_brain_mask(image, method_options)
                warmed = True
            runs = [_timed(image, method_options) for _ in range(args.repeats)]
            wall = statistics.median(run[0] for run in runs)
            cpu = statistics.median(run[1] for run in runs)
            medians[(name, method)] = cpu
            mask, source = runs[-1][2], runs[-1][3]
            print(
                f"{name} | {method} | {wall:.2f} | {cpu:.2f} | "
                f"{_volume_ml(mask) / _volume_ml(reference):.3f} | {_dice(mask, reference):.3f} | {source}",
                flush=True,
            )
    for name in names:
        if (name, "old") in medians and (name, "new") in medians:
            print(f"{name}: CPU old / new = {medians[(name, 'old')] / medians[(name, 'new')]:.2f}")
    if args.cold:
        for method in options:
            wall, cpu = _cold_seconds(names[0], method, args.threads)
            print(
                f"cold ({names[0]}, one call in a fresh process) {method}: wall {wall:.1f} s, CPU {cpu:.1f} s"
            )


if __name__ == "__main__":
    main()
