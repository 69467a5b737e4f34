"""``gdr_synthesize_low_dose -d ID --doses 0.1 0.33 [-o NEW_ID]``: a training dataset with synthetic low
doses from a dataset of pre-contrast + standard-dose pairs (documentation/synthetic_low_dose.md)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.paths import dataset_folder_name, parse_dataset_identifier, raw_dataset_folder, raw_folder
from gdr_toolkit.simulation.dose_response import SignalModel
from gdr_toolkit.simulation.low_dose_dataset import synthesise_dataset
from gdr_toolkit.simulation.low_dose_synthesis import SynthesisOptions

logger = logging.getLogger("gdr_synthesize_low_dose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_synthesize_low_dose",
        description="Simulate low-dose scans from the pre-contrast and standard-dose pairs of a raw dataset "
        "and write them as a new training dataset (one case per case and dose, CASE_d033 for 0.33).",
    )
    parser.add_argument("-d", "--dataset", required=True, help="source dataset id or name (PC + SD pairs)")
    parser.add_argument("--doses", type=float, nargs="+", required=True, help="dose fractions in (0, 1)")
    parser.add_argument("-o", "--output-id", type=int, help="id of the new dataset (default: next free id)")
    parser.add_argument("--name", help="name of the new dataset (default: SOURCE_NAME-SLD)")
    defaults = SignalModel()
    parser.add_argument("--signal_model", choices=("spgr", "linear"), default=defaults.kind)
    parser.add_argument("--native_t1_ms", type=float, default=defaults.native_t1_ms)
    parser.add_argument("--repetition_time_ms", type=float, default=defaults.repetition_time_ms)
    parser.add_argument("--flip_angle_deg", type=float, default=defaults.flip_angle_deg)
    parser.add_argument("--shading_degree", type=int, default=SynthesisOptions().shading_degree)
    parser.add_argument(
        "--noise_target",
        choices=("subtraction", "image"),
        default=SynthesisOptions().noise_target,
        help="whose noise is matched: x_LD - x_PC (default) or x_LD itself",
    )
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def _output_folder(source_name: str, output_id: int | None, name: str | None) -> Path:
    root = raw_folder()
    used = {parse_dataset_identifier(path.name)[0] for path in root.glob("Dataset[0-9][0-9][0-9]_*")}
    if output_id is None:
        output_id = next(candidate for candidate in range(1, 1000) if candidate not in used)
    folder = root / dataset_folder_name(output_id, name or f"{source_name.partition('_')[2]}-SLD")
    others = sorted(path.name for path in root.glob(f"Dataset{output_id:03d}_*") if path.name != folder.name)
    if others:
        raise ValueError(
            f"Dataset id {output_id} is already used by {', '.join(others)} in {root}; choose another -o."
        )
    return folder


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _synthesise, logger, argv, errors=(*USER_ERRORS, RuntimeError))


def _synthesise(args: argparse.Namespace) -> int:
    source = raw_dataset_folder(args.dataset)
    target = _output_folder(source.name, args.output_id, args.name)
    model = SignalModel(args.signal_model, args.native_t1_ms, args.repetition_time_ms, args.flip_angle_deg)
    options = SynthesisOptions(
        signal_model=model, shading_degree=args.shading_degree, noise_target=args.noise_target
    )
    with tqdm(desc=f"synthesising {source.name}", unit="case", disable=None) as bar:
        written = synthesise_dataset(
            source, target, args.doses, options, args.seed, on_case_done=lambda _: bar.update()
        )
    logger.info("%s: %d case(s) written to %s.", source.name, len(written), target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
