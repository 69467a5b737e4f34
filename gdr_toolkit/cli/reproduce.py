"""``gdr_reproduce``: the reproduction study (ours vs direct-regression baselines, ablations) -> results.md.

Simulates a multi-scanner, multi-agent, multi-dose dataset with a held-out test split, trains every
method with the same budget, predicts, evaluates and writes the tables (documentation/reproduction.md).
Rerunning resumes: finished trainings, predictions and evaluations are reused.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import shutil
import sys
from pathlib import Path

from gdr_toolkit.cli.command import USER_ERRORS, run_command
from gdr_toolkit.file_io import atomic_path
from gdr_toolkit.reproduction.study_methods import METHODS, select_methods
from gdr_toolkit.reproduction.study_report import results_markdown
from gdr_toolkit.reproduction.study_runner import StudyStepError, run_study
from gdr_toolkit.reproduction.study_settings import PRESETS, study_settings

logger = logging.getLogger("gdr_reproduce")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gdr_reproduce", description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--preset",
        choices=sorted(PRESETS),
        default="small",
        help="study size (default small: about 4 h on 2 cores, resumable)",
    )
    add(
        "-o",
        "--output",
        type=Path,
        default=Path("gdr_reproduction"),
        help="study folder (./gdr_reproduction)",
    )
    add("--results", type=Path, default=None, help="results Markdown to write (default OUTPUT/results.md)")
    add("--methods", nargs="+", default=None, help=f"subset of {[m.key for m in METHODS]} (ours always)")
    add("-device", default=None, choices=("cpu", "cuda", "mps"), help="override the preset's device")
    add("--num_epochs", type=int, default=None, help="override the preset's epochs per method")
    add("--iterations_per_epoch", type=int, default=None, help="override the preset's iterations per epoch")
    add("-np", "--num_processes", type=int, default=None, help="override the preprocessing workers")
    add("--notes", type=Path, default=None, help="Markdown file appended to results.md as 'Notes'")
    add("-v", "--verbose", action="store_true")
    return parser


def _copy_beside(figure: Path, results: Path) -> str:
    """Copy the embedding figure next to the results file (``<results stem>_embedding.png``); its name."""
    target = results.with_name(f"{results.stem}_embedding.png")
    if figure.resolve() != target.resolve():
        with atomic_path(target) as temporary:
            shutil.copyfile(figure, temporary)
    return target.name


def main(argv: list[str] | None = None) -> int:
    command_line = shlex.join(["gdr_reproduce", *(sys.argv[1:] if argv is None else argv)])
    errors = (*USER_ERRORS, StudyStepError, KeyError)
    return run_command(
        build_parser(), lambda args: _reproduce(args, command_line), logger, argv, errors=errors
    )


def _reproduce(args: argparse.Namespace, command_line: str) -> int:
    settings = study_settings(
        args.preset, device=args.device, num_epochs=args.num_epochs,
        iterations_per_epoch=args.iterations_per_epoch, num_processes=args.num_processes,
    )  # fmt: skip
    methods = select_methods(args.methods)
    record = run_study(settings, methods, args.output)
    notes = args.notes.read_text(encoding="utf-8") if args.notes else ""
    results = args.results or args.output / "results.md"
    embedding = _copy_beside(Path(record["embedding_figure"]), results)
    text = results_markdown(record, methods, command_line, notes, embedding)
    with atomic_path(results) as temporary:
        temporary.write_text(text, encoding="utf-8")
    logger.info("wrote %s (study took %.0f min in total)", results, record["seconds_total"] / 60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
