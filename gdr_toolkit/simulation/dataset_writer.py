"""Write a complete simulated raw dataset (layout of ``gdr_toolkit.dataset.raw_layout``).

Case k of a dataset uses the random stream ``SeedSequence(seed, spawn_key=(k,))``: training cases are
k = 0 .. num_training - 1, test cases continue after them. A case whose files all exist is skipped, so a
rerun (or a resumed, interrupted run) leaves identical files. All writes are atomic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path

from gdr_toolkit.dataset.image_io import write_image_atomic
from gdr_toolkit.dataset.raw_layout import DatasetDescription, RawCase, case_files, write_dataset_description
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.process_memory import keep_freed_memory
from gdr_toolkit.simulation.case_simulator import simulate_case
from gdr_toolkit.simulation.scanner_storage import write_rescaled_int16_atomic
from gdr_toolkit.simulation.settings import SimulationSettings

logger = logging.getLogger(__name__)

FILE_ENDING = ".nii.gz"
CASE_PREFIX = "phantom_"
METADATA_KEYS = (
    "field_strength_t",
    "contrast_agent",
    "dose_fraction",
    "repetition_time_ms",
    "echo_time_ms",
    "flip_angle_deg",
    "scanner",
)  # plus "inversion_time_ms" in MPRAGE cases


def case_id(index: int) -> str:
    """``phantom_000`` style case id of case ``index``."""
    return f"{CASE_PREFIX}{index:03d}"


def planned_cases(dataset_folder: Path, num_training: int, num_test: int) -> list[tuple[int, RawCase]]:
    """(case index, file locations) of every case of the dataset, training first."""
    cases = [
        (index, case_files(dataset_folder, case_id(index), "Tr", FILE_ENDING))
        for index in range(num_training)
    ]
    cases += [
        (index, case_files(dataset_folder, case_id(index), "Ts", FILE_ENDING))
        for index in range(num_training, num_training + num_test)
    ]
    return cases


def _is_complete(case: RawCase) -> bool:
    paths = (case.pre_contrast, case.low_dose, case.standard_dose, case.lesions, case.metadata)
    return all(path.is_file() for path in paths)


def write_case(settings: SimulationSettings, seed: int, index: int, case: RawCase) -> str:
    """Simulate case ``index`` and write its five files (metadata last, so it marks completion); scans are
    float32, or int16 with scl_slope/scl_inter when ``settings.storage_dtype`` is "int16"."""
    simulated = simulate_case(settings, seed, index)
    for scan, path in (
        ("pre_contrast", case.pre_contrast),
        ("low_dose", case.low_dose),
        ("standard_dose", case.standard_dose),
    ):
        if simulated.storage is not None:
            write_rescaled_int16_atomic(getattr(simulated, scan), simulated.storage[scan], path)
        else:
            write_image_atomic(getattr(simulated, scan), path)
    write_image_atomic(simulated.lesion_labels, case.lesions)
    write_json_atomic(simulated.metadata, case.metadata)
    return case.case_id


def _write_case_task(arguments: tuple[SimulationSettings, int, int, RawCase]) -> str:
    return write_case(*arguments)


def write_simulated_dataset(
    dataset_folder: Path,
    settings: SimulationSettings,
    num_training: int,
    num_test: int = 0,
    seed: int = 0,
    progress: bool = False,
    num_processes: int = 1,
    on_case_done: Callable[[str], None] | None = None,
) -> list[str]:
    """Write (or complete) a simulated raw dataset.

    Args:
        dataset_folder: ``$gdr_raw/DatasetXXX_Name`` (created if missing).
        settings: simulator settings.
        num_training: number of training cases (>= 1).
        num_test: number of test cases (>= 0).
        seed: dataset seed (>= 0).
        progress: show a tqdm progress bar.
        num_processes: worker processes (1: in this process).
        on_case_done: called with each case id once its files are written or found complete.

    Returns:
        The ids of the cases written in this call (complete ones are skipped).
    """
    if num_training < 1 or num_test < 0 or seed < 0:
        raise ValueError(
            f"Need num_training >= 1, num_test >= 0, seed >= 0; got {num_training}, {num_test}, {seed}."
        )
    dataset_folder = Path(dataset_folder)
    description = DatasetDescription(
        name=dataset_folder.name,
        description=(
            "Simulated brain MRI phantom (gdr_toolkit.simulation): T1w pre-contrast, "
            f"low-dose and standard-dose T1w with lesions; seed {seed}, {num_test} test case(s)."
        ),
        num_training=num_training,
        licence=_licence(settings),
        metadata_keys=METADATA_KEYS,
        extra={"simulation": {"seed": seed, "num_test": num_test, "settings": settings.to_json_dict()}},
    )
    write_dataset_description(dataset_folder, description)
    cases = planned_cases(dataset_folder, num_training, num_test)
    todo = [(settings, seed, index, case) for index, case in cases if not _is_complete(case)]
    logger.info(
        "%s: %d case(s) to simulate, %d already complete.",
        dataset_folder.name,
        len(todo),
        len(cases) - len(todo),
    )
    for _, case in cases:
        if _is_complete(case) and on_case_done is not None:
            on_case_done(case.case_id)
    written: list[str] = []
    bar = _progress_bar(len(todo), progress)
    if num_processes > 1 and len(todo) > 1:
        with get_context("spawn").Pool(num_processes, initializer=keep_freed_memory) as pool:
            results = pool.imap(_write_case_task, todo)
            written = [_done(name, bar, on_case_done) for name in results]
    else:
        written = [_done(write_case(*task), bar, on_case_done) for task in todo]
    if bar is not None:
        bar.close()
    return written


def _licence(settings: SimulationSettings) -> str:
    """CC0 for the simulated data; the Colin27 anatomy's BSD-3-clause notice when it is drawn."""
    if "colin27" not in settings.anatomies:
        return "CC0 (simulated)"
    return (
        "CC0 (simulated); cases with anatomy colin27 derive from the Colin27 brain, Copyright 2006-2010 "
        "Chris Rorden, BSD-3-clause (gdr_toolkit/simulation/data/LICENSE_colin27.txt)"
    )


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="simulating", unit="case")


def _done(name: str, bar, on_case_done: Callable[[str], None] | None) -> str:
    if bar is not None:
        bar.update()
    if on_case_done is not None:
        on_case_done(name)
    return name
