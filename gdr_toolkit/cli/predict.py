"""``gdr_predict -i IN -o OUT -d ID [-c CONFIG] [-f FOLDS] ...``: synthesise SD and SD+ for a folder of cases.

``gdr_predict_from_modelfolder -m MODEL_FOLDER -i IN -o OUT ...`` does the same with a model folder given
directly. See documentation/inference.md for every flag.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Literal

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.cli.logging_setup import tqdm_progress
from gdr_toolkit.cli.sharding_arguments import add_sharding_arguments, shard_from_arguments
from gdr_toolkit.dataset.metadata import CaseMetadata, parse_case_metadata
from gdr_toolkit.inference.export import DEFAULT_DICOM_SERIES_OFFSET, OUTPUT_FORMATS, ExportOptions
from gdr_toolkit.inference.model_loader import DEFAULT_CHECKPOINT
from gdr_toolkit.inference.prediction_run import RunOptions
from gdr_toolkit.network.precision import PRECISION_CHOICES
from gdr_toolkit.paths import resolve_dataset_name, results_folder
from gdr_toolkit.pipeline.predict_step import PredictionRequest, predict_folder
from gdr_toolkit.training.fold_training import trainer_output_folder

logger = logging.getLogger("gdr_predict")


def add_inference_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by both commands (everything but how the model folder is found)."""
    add = parser.add_argument
    add(
        "-i",
        "--input",
        type=Path,
        required=True,
        help="folder with CASE_0000<ending> (PC) and CASE_0001 (LD), files or DICOM series folders",
    )
    add("-o", "--output", type=Path, required=True, help="output folder (created)")
    add("-f", "--folds", nargs="+", default=None, help="folds to ensemble (default: all with the checkpoint)")
    add(
        "-chk",
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help=f"checkpoint file name (default {DEFAULT_CHECKPOINT})",
    )
    add(
        "-step_size", type=float, default=0.5, help="sliding-window step, fraction of the patch (default 0.5)"
    )
    add(
        "-tile_edge",
        type=tile_edge_argument,
        default="auto",
        help="largest sliding-window tile edge in voxels, or 'patch' for the training patch (default auto: "
        "128 on a CPU, where fewer overlapping passes are faster; the training patch on a GPU)",
    )
    add("--disable_tta", action="store_true", help="no mirroring test-time augmentation (8x faster)")
    add("--save_contrast_signal", action="store_true", help="also write CASE_contrast.nii.gz")
    add("--save_uncertainty", action="store_true", help="also write CASE_uncertainty.nii.gz (> 1 fold)")
    add("--continue_prediction", action="store_true", help="skip cases whose outputs exist")
    add(
        "--output_format",
        choices=OUTPUT_FORMATS,
        default="nifti",
        help="nifti (default: CASE_sd.nii.gz ...) or dicom (series folders CASE_sd/ ... derived from PC's)",
    )
    add(
        "--dicom_series_offset",
        type=int,
        default=DEFAULT_DICOM_SERIES_OFFSET,
        help=f"DICOM SeriesNumber of SD = PC's + this (default {DEFAULT_DICOM_SERIES_OFFSET}; SD+ +1, ...)",
    )
    add(
        "--dicom_burned_in_banner",
        action="store_true",
        help="burn 'SYNTHETIC - NOT FOR DIAGNOSIS' into every slice of the DICOM image series",
    )
    add(
        "--allow_mismatched_patient",
        action="store_true",
        help="predict cases whose PC and LD DICOM series differ in patient, study or frame of reference "
        "(logged; default: such a case is refused)",
    )
    add("--enhancement-factor", type=float, default=1.0, help="k in x + k*y (default 1)")
    add("--metadata", type=Path, default=None, help="folder with CASE.json metadata files")
    add(
        "--strict",
        action="store_true",
        help="refuse (do not write, exit 1) a case outside the model's training ranges",
    )
    add(
        "--dose",
        type=float,
        default=None,
        help="dose fraction of the low dose (with --field-strength, --agent)",
    )
    add("--field-strength", type=float, default=None, help="field strength in tesla")
    add("--agent", default=None, help="contrast agent name (e.g. gadobutrol)")
    add(
        "-npp",
        type=int,
        default=None,
        help="processes preprocessing ahead of the network (default: 2 on a GPU with >= 4 cores, else 1: inline)",
    )
    add(
        "-nps",
        type=int,
        default=2,
        help="threads writing outputs in the background (default 2: while the next case runs; 1: inline)",
    )
    add("-device", default="auto", help="auto (default: cuda, else mps, else cpu), cpu, cuda, cuda:N or mps")
    add(
        "--precision",
        default="auto",
        choices=PRECISION_CHOICES,
        help="auto (default): the checkpoint's training precision on CUDA, fp32 on CPU/MPS",
    )
    add_sharding_arguments(parser)
    add("-v", "--verbose", action="store_true")


def tile_edge_argument(value: str) -> int | None | Literal["auto"]:
    """``-tile_edge``: ``auto``, ``patch`` (None: the training patch) or a positive number of voxels."""
    if value == "auto":
        return "auto"
    if value == "patch":
        return None
    try:
        edge = int(value)
    except ValueError:
        edge = 0
    if edge < 1:
        raise argparse.ArgumentTypeError(f"expected auto, patch or a number of voxels >= 1, got {value!r}")
    return edge


def metadata_from_flags(args: argparse.Namespace) -> CaseMetadata | None:
    """Metadata for every case from --dose/--field-strength/--agent, or None when none is given."""
    values = {
        "dose_fraction": args.dose,
        "field_strength_t": args.field_strength,
        "contrast_agent": args.agent,
    }
    if all(value is None for value in values.values()):
        return None
    record = {key: value for key, value in values.items() if value is not None}
    return parse_case_metadata(record, source="--dose/--field-strength/--agent")


def run(args: argparse.Namespace, model_folder: Path) -> int:
    """Load the model, predict every case of the input folder; 0 when all cases were written."""
    request = PredictionRequest(
        args.folds, args.checkpoint, args.device, args.step_size, not args.disable_tta,
        args.enhancement_factor, args.metadata, metadata_from_flags(args),
        RunOptions(
            ExportOptions(args.save_contrast_signal, args.save_uncertainty, output_format=args.output_format,
                          dicom_series_offset=args.dicom_series_offset,
                          dicom_burned_in_banner=args.dicom_burned_in_banner),
            args.continue_prediction, args.npp, args.nps,
            allow_mismatched_patient=args.allow_mismatched_patient, strict=args.strict,
        ),
        precision=args.precision, shard=shard_from_arguments(args), tile_edge=args.tile_edge,
    )  # fmt: skip
    summary = predict_folder(model_folder, args.input, args.output, request, tqdm_progress)
    logger.info(
        "%d case(s) written, %d skipped, %d failed -> %s",
        len(summary.written), len(summary.skipped), len(summary.failures), args.output,
    )  # fmt: skip
    if summary.failures:
        lines = "\n".join(f"  {case}: {reason}" for case, reason in sorted(summary.failures.items()))
        logger.error("%d case(s) failed:\n%s", len(summary.failures), lines)
        return 1
    return 0


def _run_dataset_model(args: argparse.Namespace) -> int:
    name = resolve_dataset_name(args.dataset, [results_folder()])
    return run(args, trainer_output_folder(name, args.trainer, args.plans, args.configuration))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gdr_predict", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-d", "--dataset", required=True, help="dataset id or DatasetXXX_Name (in $gdr_results)"
    )
    parser.add_argument("-c", "--configuration", default="3d_fullres", help="default 3d_fullres")
    parser.add_argument("-tr", "--trainer", default="GDRTrainer", help="trainer class (default GDRTrainer)")
    parser.add_argument("-p", "--plans", default="gdrPlans", help="plans name (default gdrPlans)")
    add_inference_arguments(parser)
    return run_command(parser, _run_dataset_model, logger, argv, errors=(*USER_ERRORS, KeyError))


def main_from_modelfolder(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gdr_predict_from_modelfolder",
        description="Like gdr_predict, with the model folder given directly.",
    )
    parser.add_argument(
        "-m", "--model_folder", type=Path, required=True, help="<Trainer>__<plans>__<configuration>"
    )
    add_inference_arguments(parser)
    return run_command(
        parser, lambda args: run(args, args.model_folder), logger, argv, errors=(*USER_ERRORS, KeyError)
    )


if __name__ == "__main__":
    sys.exit(main())
