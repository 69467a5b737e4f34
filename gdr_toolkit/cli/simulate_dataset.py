"""``gdr_simulate_dataset -d ID -n N``: write a simulated raw dataset into ``$gdr_raw/DatasetXXX_NAME``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from gdr_toolkit.cli.command import run_command
from gdr_toolkit.file_io import read_json
from gdr_toolkit.paths import dataset_folder_name, raw_folder
from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset
from gdr_toolkit.simulation.settings import (
    ANATOMY_NAMES,
    CUT_SIDES,
    FOV_SCANS,
    SNR_DISTRIBUTIONS,
    SimulationSettings,
)

logger = logging.getLogger("gdr_simulate_dataset")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_simulate_dataset",
        description="Simulate a raw dataset of brain MRI phantoms (pre-contrast, low-dose and standard-dose "
        "T1w, lesion labels, metadata). Reruns complete an unfinished dataset.",
    )
    parser.add_argument("-d", "--dataset-id", type=int, required=True, help="dataset id, 1..999")
    parser.add_argument("-n", "--num-training", type=int, required=True, help="number of training cases")
    parser.add_argument("--test", type=int, default=0, help="number of test cases (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument(
        "--spacing", type=float, default=2.0, help="isotropic output spacing in mm (default 2)"
    )
    parser.add_argument("--name", default="Phantom", help="dataset name (default Phantom)")
    parser.add_argument(
        "--anisotropic-fraction",
        type=float,
        default=0.0,
        help="fraction of cases with thick-slice LD/SD scans",
    )
    _add_realism_arguments(parser)
    parser.add_argument("-np", "--num-processes", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _add_realism_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "realism", "effects of real acquisitions (documentation/simulation.md); each overrides --realism"
    )
    group.add_argument(
        "--realism",
        choices=("none", "mixed", "real"),
        default="none",
        help="none: the plain phantom (default); mixed: SimulationSettings.realistic_mix(); real: "
        "SimulationSettings.real_scans() (mixed plus two anatomies, head sizes, wide SNR, correlated noise, "
        "skull stripping: for training on real scans)",
    )
    group.add_argument(
        "--fov-fraction", type=float, help="share of cases whose LD/SD slab misses part of the brain"
    )
    group.add_argument("--fov-scans", choices=FOV_SCANS, help="scans with the cropped slab (default both)")
    group.add_argument(
        "--fov-brain-outside",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="brain fraction outside (0.1 0.3)",
    )
    group.add_argument("--fov-sides", nargs="+", choices=CUT_SIDES, help="sides the slab misses (superior)")
    group.add_argument("--thick-pc-fraction", type=float, help="share of cases with a thick-slice PC scan")
    group.add_argument(
        "--thick-slice-mm",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="PC slice thickness in mm (3 5)",
    )
    group.add_argument("--slice-axis", type=int, choices=(0, 1, 2), help="grid axis of thick slices (2)")
    group.add_argument("--mprage-fraction", type=float, help="share of cases with an MPRAGE preset")
    group.add_argument("--storage", choices=("float32", "int16"), help="image storage (float32)")
    group.add_argument("--oblique-fraction", type=float, help="share of cases with oblique directions")
    group.add_argument(
        "--oblique-deg",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="oblique rotation in degrees (3 15)",
    )
    group.add_argument("--anatomies", nargs="+", choices=ANATOMY_NAMES, help="brains drawn per case (mni152)")
    group.add_argument(
        "--head-scale", type=float, nargs=2, metavar=("LOW", "HIGH"), help="head size / atlas (1 1)"
    )
    group.add_argument("--snr", type=float, nargs=2, metavar=("LOW", "HIGH"), help="SNR range (15 40)")
    group.add_argument("--snr-distribution", choices=SNR_DISTRIBUTIONS, help="SNR draw (uniform)")
    group.add_argument("--correlated-noise-fraction", type=float, help="share of cases with correlated noise")
    group.add_argument("--skull-strip-fraction", type=float, help="share of skull-stripped cases")
    group.add_argument("--coregistered-fraction", type=float, help="share of cases with LD/SD on PC's grid")


REALISM_FLAGS = {
    "fov_fraction": "fov_crop_fraction",
    "fov_scans": "fov_crop_scans",
    "fov_brain_outside": "fov_brain_outside_range",
    "fov_sides": "fov_cut_sides",
    "thick_pc_fraction": "thick_pc_fraction",
    "thick_slice_mm": "thick_slice_mm_range",
    "slice_axis": "slice_axis",
    "mprage_fraction": "mprage_fraction",
    "storage": "storage_dtype",
    "oblique_fraction": "oblique_fraction",
    "oblique_deg": "oblique_angle_range_deg",
    "anatomies": "anatomies",
    "head_scale": "head_scale_range",
    "snr": "snr_range",
    "snr_distribution": "snr_distribution",
    "correlated_noise_fraction": "correlated_noise_fraction",
    "skull_strip_fraction": "skull_strip_fraction",
    "coregistered_fraction": "coregistered_fraction",
}


def settings_from_arguments(args: argparse.Namespace) -> SimulationSettings:
    """The simulation settings the flags ask for (--realism first, then each explicit flag)."""
    overrides: dict[str, Any] = {
        field: tuple(value) if isinstance(value, list) else value
        for flag, field in REALISM_FLAGS.items()
        if (value := getattr(args, flag)) is not None
    }
    overrides.update(spacing_mm=args.spacing, anisotropic_fraction=args.anisotropic_fraction)
    if args.realism == "mixed":
        return SimulationSettings.realistic_mix(**overrides)
    if args.realism == "real":
        return SimulationSettings.real_scans(**overrides)
    return SimulationSettings(**overrides)


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _simulate, logger, argv)


def _simulate(args: argparse.Namespace) -> int:
    settings = settings_from_arguments(args)
    root = raw_folder()
    folder = root / dataset_folder_name(args.dataset_id, args.name)
    others = sorted(p.name for p in root.glob(f"Dataset{args.dataset_id:03d}_*") if p.name != folder.name)
    if others:
        raise ValueError(
            f"Dataset id {args.dataset_id} is already used by {', '.join(others)} in {root}; "
            "choose another id (-d) or remove that dataset."
        )
    if (folder / "dataset.json").is_file():
        previous = read_json(folder / "dataset.json").get("simulation", {})
        same_settings = SimulationSettings.from_json_dict(previous.get("settings", {})) == settings
        if previous.get("seed") != args.seed or not same_settings:
            raise ValueError(
                f"{folder / 'dataset.json'} was written with other simulation settings or seed "
                f"(seed {previous.get('seed')!r}); use another id or remove the folder."
            )
    start = time.perf_counter()
    written = write_simulated_dataset(
        folder,
        settings,
        args.num_training,
        args.test,
        args.seed,
        progress=True,
        num_processes=args.num_processes,
    )
    elapsed = time.perf_counter() - start
    logger.info("%s: wrote %d case(s) in %.1f s.", folder, len(written), elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
