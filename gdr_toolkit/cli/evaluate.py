"""``gdr_evaluate``: metrics of predictions against standard-dose references; ``gdr_compare_predictions``:
paired t-tests between two evaluated methods (documentation/evaluation.md)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from tqdm import tqdm

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.evaluation import (
    FolderEvaluationOptions,
    MetricOptions,
    compare_summaries,
    evaluate_predictions,
)
from gdr_toolkit.evaluation.guard_evaluation import guard_text
from gdr_toolkit.file_io import read_json, write_json_atomic

logger = logging.getLogger("gdr_evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_evaluate",
        description="PSNR_I/B/L, SSIM, MAE_CE, c_bar, c_hat of predictions (and optionally x_LD) against x_SD; "
        "writes summary.json with per-case, per-lesion and aggregate values.",
    )
    parser.add_argument("-ref", required=True, help="reference folder: CASE.nii.gz (x_SD, e.g. targetsTs)")
    parser.add_argument("-pred", required=True, help="prediction folder: CASE<suffix>.nii.gz")
    parser.add_argument(
        "-pc", help="pre-contrast folder: CASE_0000 (x_PC) and CASE_0001 (x_LD), e.g. imagesTs"
    )
    parser.add_argument("-lesions", help="lesion label folder: CASE.nii.gz (e.g. lesionsTs)")
    parser.add_argument("-brain", help="brain mask folder: CASE.nii.gz (default: derived from x_PC)")
    parser.add_argument(
        "-valid", help="valid-data mask folder: CASE.nii.gz, non-zero where the scans have data (optional)"
    )
    parser.add_argument(
        "--ignore-valid-masks", action="store_true",
        help="do not restrict the metrics to the prediction folder's CASE_valid_mask files",
    )  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="summary.json to write")
    parser.add_argument(
        "--suffix", nargs="+", default=["_sd"], help="prediction suffix(es) (_sd; e.g. _sd _sdplus)"
    )
    parser.add_argument(
        "--low-dose", action="store_true", help="also evaluate x_LD (CASE_0001) as a baseline"
    )
    parser.add_argument(
        "--brain-mask-rule", choices=("atlas", "head_threshold"), default="atlas",
        help="mask derivation without -brain: atlas registration (slow) or Otsu head mask (atlas)",
    )  # fmt: skip
    parser.add_argument(
        "--coregister", action="store_true", help="rigidly register x_SD and x_LD to x_PC first"
    )
    parser.add_argument(
        "--cache", metavar="DIR",
        help="keep derived brain masks and co-registered x_SD/x_LD in DIR and reuse them when other "
        "predictions of the same cases are evaluated (keyed by the files' bytes)",
    )  # fmt: skip
    parser.add_argument(
        "--align-predictions", action="store_true", help="radiometrically scale predictions to x_PC"
    )
    parser.add_argument("--ce-sigmas", type=float, default=3.0, help="CE threshold in noise sigmas (3)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _evaluate, logger, argv)


def _evaluate(args: argparse.Namespace) -> int:
    metric_options = MetricOptions(
        align_predictions=args.align_predictions, ce_threshold_sigmas=args.ce_sigmas
    )
    options = FolderEvaluationOptions(
        metrics=metric_options, brain_mask_rule=args.brain_mask_rule,
        include_low_dose=args.low_dose, coregister_acquired_scans=args.coregister,
        use_prediction_valid_masks=not args.ignore_valid_masks,
    )  # fmt: skip
    with tqdm(desc="evaluating", unit="case", disable=None) as bar:
        summary = evaluate_predictions(
            args.ref, args.pred, args.pc, args.lesions, args.brain, tuple(args.suffix), options,
            on_case_done=lambda _case: bar.update(), valid_mask_folder=args.valid,
            cache_folder=args.cache,
        )  # fmt: skip
    record = summary.to_json_dict()
    write_json_atomic(record, args.output)
    for method, results in record["methods"].items():
        logger.info("%s: %s", method, _format_aggregate(results["aggregate"]))
    if "hallucination_guard" in record:
        logger.info("%s", guard_text(record["hallucination_guard"]["pooled"]))
    logger.info("wrote %s", args.output)
    return 0


def _format_aggregate(aggregate: dict) -> str:
    parts = [
        f"{metric} {values['mean']:.4g} +- {values['std'] if values['std'] is not None else float('nan'):.3g} "
        f"(n={values['n']})"
        for metric, values in aggregate.items()
        if values["mean"] is not None
    ]
    return ", ".join(parts) or "no finite metric"


def build_compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gdr_compare_predictions",
        description="Paired two-sided t-tests (per case; per lesion for psnr_l, c_bar, c_hat) of method A "
        "against method B from gdr_evaluate summaries.",
    )
    parser.add_argument("-a", required=True, help="summary.json holding method A")
    parser.add_argument("-b", help="summary.json holding method B (default: the same as -a)")
    parser.add_argument("--method-a", default="sd", help="method name in A (sd)")
    parser.add_argument("--method-b", default="low_dose", help="method name in B (low_dose)")
    parser.add_argument("-o", "--output", help="write the results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def compare_main(argv: list[str] | None = None) -> int:
    return run_command(build_compare_parser(), _compare, logger, argv, errors=(*USER_ERRORS, KeyError))


def _compare(args: argparse.Namespace) -> int:
    summary_a = read_json(args.a)
    summary_b = read_json(args.b) if args.b else summary_a
    results = compare_summaries(summary_a, args.method_a, summary_b, args.method_b)
    record = {
        "a": {"summary": args.a, "method": args.method_a},
        "b": {"summary": args.b or args.a, "method": args.method_b},
        "tests": {
            metric: None if result is None else _json_safe(dataclasses.asdict(result))
            for metric, result in results.items()
        },
    }
    for metric, result in results.items():
        if result is None:
            logger.info("%s: fewer than 2 finite pairs", metric)
        else:
            logger.info(
                "%s: mean(A - B) = %.4g, t = %.3f, p = %.3g, n = %d",
                metric, result.mean_difference, result.t_statistic, result.p_value, result.n,
            )  # fmt: skip
    if args.output:
        write_json_atomic(record, args.output)
    return 0


def _json_safe(record: dict) -> dict:
    return {key: value if value == value else None for key, value in record.items()}  # NaN -> None


if __name__ == "__main__":
    sys.exit(main())
