"""Background processes that assemble training batches into shared-memory slots.

Each worker k owns ``prefetch`` slots (float32 arrays memory-mapped from files in /dev/shm, or the
temporary folder where /dev/shm lacks room) and two small queues: the consumer hands it free slot
numbers, it answers with ``(slot, case_ids)`` once a slot holds a batch. Messages stay far below the
pipe's atomic write size, so a worker killed at any moment (e.g. by the out-of-memory killer) never
leaves half a message that would block the consumer; batches are taken from the workers in turn, so
the stream is reproducible for a fixed number of workers. Workers are spawned (not forked), so they
start clean of the parent's threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
import traceback
import weakref
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np

from gdr_toolkit.training.data.options import LoaderOptions
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1
JOIN_SECONDS = 5.0
SHARED_MEMORY_FOLDER = Path("/dev/shm")
MAX_ERROR_CHARACTERS = 3000  # keeps an error message below the pipe's atomic write size (4096 bytes)


class WorkerPool:
    """``num_workers`` processes producing batches in a fixed round-robin order.

    Args:
        dataset: the cases (pickled to the workers, which reopen the files).
        options: loader options; ``options.num_workers`` >= 1.
    """

    def __init__(self, dataset: PreprocessedDataset, options: LoaderOptions) -> None:
        if options.num_workers < 1:
            raise ValueError(f"WorkerPool needs num_workers >= 1, got {options.num_workers}.")
        self._shape = (options.batch_size, len(dataset.channels), *options.patch_size)
        count = options.num_workers * options.prefetch_per_worker
        self._folder = Path(tempfile.mkdtemp(prefix="gdr_batches_", dir=_slot_folder(count, self._shape)))
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._ready = [context.Queue() for _ in range(options.num_workers)]
        self._free = [context.Queue() for _ in range(options.num_workers)]
        self._slots: list[list[np.memmap]] = []
        self._processes: list[BaseProcess] = []
        for worker in range(options.num_workers):
            paths = [
                self._folder / f"worker{worker}_slot{slot}.f32" for slot in range(options.prefetch_per_worker)
            ]
            self._slots.append([np.memmap(path, np.float32, "w+", shape=self._shape) for path in paths])
            for slot in range(options.prefetch_per_worker):
                self._free[worker].put(slot)
            process = context.Process(
                target=_worker_main,
                args=(dataset, options, worker, paths, self._free[worker], self._ready[worker], self._stop),
                name=f"gdr-data-worker-{worker}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)
        self._next_worker = 0
        self._closed = False
        self._finalizer = weakref.finalize(
            self, _shut_down, self._stop, self._processes, self._ready + self._free, self._folder
        )

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the workers, in worker order."""
        return [process.pid for process in self._processes]

    def next_batch(self) -> dict:
        """The next batch in round-robin order: {"data": (B, C, z, y, x) float32 copy, "case_ids": [...]}."""
        if self._closed:
            raise RuntimeError("The data loader was closed; create a new PatchLoader.")
        worker = self._next_worker
        while True:
            self._raise_if_a_worker_died()
            try:
                message = self._ready[worker].get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            break
        if message[0] == "error":
            self.close()
            raise RuntimeError(f"Data-loading worker {worker} failed:\n{message[1]}")
        _, slot, case_ids = message
        data = np.array(self._slots[worker][slot])
        self._free[worker].put(slot)
        self._next_worker = (worker + 1) % len(self._processes)
        return {"data": data, "case_ids": case_ids}

    def close(self) -> None:
        """Stop the workers (terminate stragglers) and delete the shared-memory slots; idempotent."""
        self._closed = True
        self._slots = []
        self._finalizer()

    def _raise_if_a_worker_died(self) -> None:
        for worker, process in enumerate(self._processes):
            if process.exitcode is not None:
                message = _death_message(worker, len(self._processes), process)
                self.close()
                raise RuntimeError(message)


def _death_message(worker: int, count: int, process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            cause = f"by signal {signal.Signals(-code).name}"
        except ValueError:
            cause = f"by signal {-code}"
    else:
        cause = f"with exit code {code} (see its error output above)"
    return (
        f"A data-loading worker died unexpectedly (worker {worker} of {count}, process {process.pid}, "
        f"ended {cause}); most likely it ran out of memory (the out-of-memory killer sends SIGKILL). "
        "Lower the number of data-loading workers (num_workers), or the patch or batch size, "
        "or use num_workers=0."
    )


def _slot_folder(count: int, shape: tuple[int, ...]) -> Path | None:
    """/dev/shm where it holds the slots with room to spare, else the default temporary folder."""
    needed = 2 * count * int(np.prod(shape)) * 4
    if SHARED_MEMORY_FOLDER.is_dir() and shutil.disk_usage(SHARED_MEMORY_FOLDER).free > needed:
        return SHARED_MEMORY_FOLDER
    logger.warning(
        "Too little room in %s for the batch slots; using the temporary folder.", SHARED_MEMORY_FOLDER
    )
    return None


def _shut_down(stop, processes: list[BaseProcess], queues: list, folder: Path) -> None:
    stop.set()
    for process in processes:
        process.join(timeout=JOIN_SECONDS)
        if process.is_alive():
            logger.warning("Data-loading process %s did not stop; terminating it.", process.pid)
            process.terminate()
            process.join(timeout=JOIN_SECONDS)
    for channel in queues:
        channel.cancel_join_thread()
        channel.close()
    shutil.rmtree(folder, ignore_errors=True)


def _worker_main(
    dataset: PreprocessedDataset,
    options: LoaderOptions,
    worker: int,
    slot_paths: list[Path],
    free: multiprocessing.Queue,
    ready: multiprocessing.Queue,
    stop,
) -> None:
    """Fill free slots with batches drawn from ``default_rng([seed, worker])`` until ``stop`` is set
    (or the parent process is gone)."""
    try:
        import blosc2
        import torch

        from gdr_toolkit.training.data.batch_assembly import assemble_batch

        torch.set_num_threads(1)
        blosc2.set_nthreads(1)
        shape = (options.batch_size, len(dataset.channels), *options.patch_size)
        slots = [np.memmap(path, np.float32, "r+", shape=shape) for path in slot_paths]
        rng = np.random.default_rng([options.seed, worker])
        parent = multiprocessing.parent_process()
        while not stop.is_set():
            try:
                slot = free.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if parent is not None and not parent.is_alive():  # the consumer was killed:
                    shutil.rmtree(slot_paths[0].parent, ignore_errors=True)  # free its shared memory
                    return  # and do not linger as an orphan
                continue
            batch = assemble_batch(rng, dataset, options, out=slots[slot])
            ready.put(("batch", slot, batch["case_ids"]))
    except Exception:  # reported to the consumer, which raises it (the message is flushed on return)
        if not stop.is_set():
            ready.put(("error", traceback.format_exc()[-MAX_ERROR_CHARACTERS:]))
        return
    os._exit(0)  # stopped: skip the interpreter's teardown (about a second with torch loaded)
