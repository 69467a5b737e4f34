"""PatchLoader with persistent worker processes: the in-process stream, reproducible, clear errors, shutdown."""

from __future__ import annotations

import atexit
import ctypes
import gc
import logging
import multiprocessing
import os
import resource
import signal
import time

import numpy as np
import pytest
import torch
from synthetic_cases import blob_stack, write_synthetic_case

from gdr_toolkit.preprocessing import case_storage
from gdr_toolkit.training.data import LoaderOptions, PatchLoader, PreprocessedDataset, worker_loader
from gdr_toolkit.training.data.worker_loader import worker_has_ended

PATCH = (16, 16, 16)
PR_SET_DUMPABLE = 4  # linux/prctl.h


@pytest.fixture(scope="module")
def dataset(blob_folder) -> PreprocessedDataset:
    return PreprocessedDataset(blob_folder, ["blob_a", "blob_b", "no_enhancement"])


class HangAtExitDataset(PreprocessedDataset):
    """Its copies in the worker processes never finish exiting: SIGTERM ignored, an atexit hook that sleeps."""

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        atexit.register(_hang)


def _hang() -> None:
    """Never return, whatever torch's shutdown sends but SIGKILL (its worker handles SIGTERM)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(3600)


class AbortAtExitDataset(PreprocessedDataset):
    """Its copies in the worker processes abort the process when it exits (SIGABRT at teardown).

    The workers are made non-dumpable first: where core dumps are enabled, writing a torch process's core
    takes longer than any join timeout (the CI failure this test once had).
    """

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        atexit.register(os.abort)


def options(num_workers: int, seed: int = 5) -> LoaderOptions:
    return LoaderOptions(PATCH, batch_size=2, num_workers=num_workers, seed=seed, oversample_fraction=0.5)


def take(loader: PatchLoader, count: int) -> list[dict]:
    return [next(loader) for _ in range(count)]


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_deliver_the_in_process_stream(dataset, workers):
    with PatchLoader(dataset, options(workers)) as loader:
        from_worker = take(loader, 3)
    in_process = take(PatchLoader(dataset, options(0)), 3)
    for worker_batch, local_batch in zip(from_worker, in_process, strict=True):
        assert worker_batch["case_ids"] == local_batch["case_ids"]
        np.testing.assert_array_equal(worker_batch["data"], local_batch["data"])


def test_two_workers_repeat_with_the_same_seed(dataset):
    with PatchLoader(dataset, options(2)) as first, PatchLoader(dataset, options(2)) as second:
        batches = take(first, 4), take(second, 4)
    for a, b in zip(*batches, strict=True):
        assert a["case_ids"] == b["case_ids"] and np.array_equal(a["data"], b["data"])
    assert not np.array_equal(batches[0][0]["data"], batches[0][1]["data"])


@pytest.mark.slow  # SIGKILL races torch's shared-memory hand-over; flaky on a loaded 2-core machine
def test_killed_worker_raises_a_clear_error_quickly(dataset):
    loader = PatchLoader(dataset, options(1))
    next(loader)
    os.kill(loader.worker_pids[0], signal.SIGKILL)
    with pytest.raises(RuntimeError, match="data-loading worker died.*num_workers"):
        for _ in range(200):  # batches prefetched before the kill still arrive
            next(loader)


def test_worker_exception_reaches_the_consumer(tmp_path):
    write_synthetic_case(tmp_path, "vanishing", blob_stack(shape=(20, 20, 20)))
    dataset = PreprocessedDataset(tmp_path, ["vanishing"])
    case_storage.case_array_path(tmp_path, "vanishing").unlink()
    with PatchLoader(dataset, options(1)) as loader:
        with pytest.raises(FileNotFoundError, match="(?s)worker process 0.*vanishing"):
            next(loader)


def test_garbage_collection_stops_the_workers(dataset):
    loader = PatchLoader(dataset, options(1))
    next(loader)
    processes = list(loader._pool._iterator._workers)
    del loader
    gc.collect()
    assert all(worker_has_ended(process) for process in processes)


def test_workers_persist_between_batches(dataset):
    with PatchLoader(dataset, options(2)) as loader:
        first = loader.worker_pids
        take(loader, 6)
        assert loader.worker_pids == first and len(first) == 2


def test_worker_aborting_at_exit_does_not_fail_the_shutdown(blob_folder, caplog):
    dataset = AbortAtExitDataset(blob_folder, ["blob_a", "blob_b"])
    with caplog.at_level(logging.WARNING), PatchLoader(dataset, options(2)) as loader:
        batches = take(loader, 3)
        processes = list(loader._pool._iterator._workers)
    assert len(batches) == 3
    assert all(worker_has_ended(process) for process in processes)  # close() reaps: no join here
    assert any(process.exitcode == -signal.SIGABRT for process in processes)
    assert "ended abnormally while stopping (signal 6)" in caplog.text


def test_worker_hanging_at_exit_is_killed_by_close(blob_folder, caplog, monkeypatch):
    monkeypatch.setattr(worker_loader, "STOP_GRACE_SECONDS", 0.5)
    monkeypatch.setattr(torch.utils.data._utils, "MP_STATUS_CHECK_INTERVAL", 0.5)  # torch's own waits
    dataset = HangAtExitDataset(blob_folder, ["blob_a", "blob_b"])
    with caplog.at_level(logging.WARNING), PatchLoader(dataset, options(1)) as loader:
        take(loader, 1)
        processes = list(loader._pool._iterator._workers)
    assert all(worker_has_ended(process) for process in processes)
    assert processes[0].exitcode == -signal.SIGKILL
    assert "did not stop within 0.5 s and was killed" in caplog.text


def test_close_reaps_the_workers_even_when_torch_marked_its_iterator_shut_down(dataset, monkeypatch):
    monkeypatch.setattr(worker_loader, "STOP_GRACE_SECONDS", 0.5)
    loader = PatchLoader(dataset, options(2))
    take(loader, 2)
    processes = list(loader._pool._iterator._workers)
    iterator = loader._pool._iterator  # torch's state after its own shutdown was cut short before close():
    torch.utils.data._utils.signal_handling._remove_worker_pids(id(iterator))  # pids unregistered,
    iterator._worker_pids_set, iterator._shutdown = False, True  # marked shut down, workers still running
    loader.close()
    assert all(worker_has_ended(process) for process in processes)
    assert all(process.exitcode == -signal.SIGKILL for process in processes)  # never asked to stop: killed


def test_a_worker_reaped_behind_multiprocessings_back_counts_as_ended_and_is_not_killed(caplog):
    """The under-load failure: torch's SIGCHLD handler raised between multiprocessing's ``waitpid`` and its
    bookkeeping, so ``is_alive()`` reported a reaped worker as alive; the sentinel says it has ended."""
    process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0.1,))
    process.start()
    os.waitpid(process.pid, 0)  # its exit status collected by someone else, as in that race
    assert process.is_alive()  # multiprocessing's view, wrong from now on
    assert worker_has_ended(process)
    with caplog.at_level(logging.WARNING):
        worker_loader._stop(process)  # returns at once: nothing to wait for, nothing to kill
    assert "killed" not in caplog.text
