"""Batches assembled in persistent worker processes: torch's DataLoader over an endless batch stream.

Batch i is drawn from ``numpy.random.default_rng([seed, i])``: with n workers, worker k assembles batches
``first_batch + k, first_batch + k + n, ...`` and the DataLoader takes batches from the workers in turn,
so the stream is the in-process one, whatever the number of workers, and a resumed run continues it. Workers are spawned (not forked: they start clean of the parent's threads), stay alive as
long as the loader (``persistent_workers``; the trainer keeps one loader for a whole run) and run torch
and blosc2 single-threaded, with glibc keeping freed patch-sized blocks (:func:`keep_freed_patch_memory`).
Batches are assembled straight into shared memory (torch tensors), so handing them over copies nothing;
``prefetch_per_worker`` batches per worker are kept ready.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from multiprocessing.connection import wait as wait_for_sentinels

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from gdr_toolkit.process_memory import keep_freed_memory
from gdr_toolkit.training.data.batch_assembly import assemble_batch
from gdr_toolkit.training.data.options import LoaderOptions
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset

logger = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 10.0  # how long close() lets a worker exit by itself before killing it
DEATH_HINT = (
    "A data-loading worker died unexpectedly; most likely it ran out of memory (the out-of-memory killer "
    "sends SIGKILL). Lower the number of data-loading workers (num_workers), or the patch or batch size, "
    "or use num_workers=0."
)


class BatchStream(IterableDataset):
    """Endless training batches ``{"data": float32 tensor (B, C, *patch), "case_ids": [...]}``.

    Args:
        dataset: the cases (pickled to the workers, which reopen the files).
        options: loader options (seed, patch, batch, augmentation).
    """

    def __init__(self, dataset: PreprocessedDataset, options: LoaderOptions) -> None:
        self.dataset = dataset
        self.options = options

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker = 0 if info is None else info.id
        if info is not None:
            import blosc2

            torch.set_num_threads(1)
            blosc2.set_nthreads(1)
            keep_freed_patch_memory()
        step = 1 if info is None else info.num_workers
        index = self.options.first_batch + worker
        shape = (self.options.batch_size, len(self.dataset.channels), *self.options.patch_size)
        while True:
            # in a worker the batch is assembled in shared memory: handing it over copies nothing
            data = torch.empty(shape, dtype=torch.float32)
            if info is not None:
                data.share_memory_()
            batch = assemble_batch(
                batch_generator(self.options, index), self.dataset, self.options, data.numpy()
            )
            yield {"data": data, "case_ids": batch["case_ids"]}
            index += step


#: a worker's glibc settings (``process_memory``): blocks up to 32 MiB (a 9 x 96^3 float32 patch) from the
#: heap, up to 512 MiB of freed memory kept. Every patch read allocates a few arrays of ~32 MB; unmapping
#: them on free and zeroing fresh pages at the next touch took ~10 ms of a 45 ms patch on one core
#: (documentation/benchmarks.md).
KEPT_FREE_BYTES, HEAP_BLOCK_BYTES = 512 * 1024**2, 32 * 1024**2


def keep_freed_patch_memory() -> bool:
    """:func:`~gdr_toolkit.process_memory.keep_freed_memory` with a loader worker's settings."""
    return keep_freed_memory(HEAP_BLOCK_BYTES, KEPT_FREE_BYTES)


def batch_generator(options: LoaderOptions, index: int) -> np.random.Generator:
    """The random generator of batch ``index`` of the stream: ``default_rng([seed, index])``."""
    return np.random.default_rng([options.seed, index])


class WorkerLoader:
    """``num_workers`` persistent processes producing batches in a fixed round-robin order."""

    def __init__(self, dataset: PreprocessedDataset, options: LoaderOptions) -> None:
        if options.num_workers < 1:
            raise ValueError(f"WorkerLoader needs num_workers >= 1, got {options.num_workers}.")
        self._loader = DataLoader(
            BatchStream(dataset, options),
            batch_size=None,
            num_workers=options.num_workers,
            persistent_workers=True,
            prefetch_factor=options.prefetch_per_worker,
            multiprocessing_context="spawn",
        )
        self._iterator = iter(self._loader)
        self._processes = list(
            getattr(self._iterator, "_workers", [])
        )  # reaped by close(), whatever torch did
        self._closed = False

    @property
    def pids(self) -> list[int | None]:
        """Process ids of the workers, in worker order."""
        return [process.pid for process in getattr(self._iterator, "_workers", [])]

    def next_batch(self) -> dict:
        """The next batch: {"data": (B, C, z, y, x) float32 numpy array, "case_ids": [...]}."""
        try:
            batch = next(self._iterator)
        except RuntimeError as error:
            if "exited unexpectedly" in str(error) or "killed by signal" in str(error):
                self.close()
                raise RuntimeError(f"{DEATH_HINT} ({error})") from error
            raise
        except (ConnectionError, EOFError) as error:  # the worker died while handing over a batch's memory
            self.close()
            raise RuntimeError(f"{DEATH_HINT} ({type(error).__name__}: {error})") from error
        return {"data": batch["data"].numpy(), "case_ids": list(batch["case_ids"])}

    def close(self) -> None:
        """Stop the workers and return with none alive; idempotent.

        Torch's shutdown asks the workers to exit; a worker that has not exited ``STOP_GRACE_SECONDS``
        after it is killed (SIGKILL) and reaped, so no worker outlives ``close()`` whatever torch's
        shutdown did. A worker that dies by a signal while it exits (a C++ library aborting during
        interpreter teardown, "terminate called without an active exception") has delivered every batch it
        made: that is logged, not raised.
        """
        if self._closed:
            return
        self._closed = True
        shutdown = getattr(self._iterator, "_shutdown_workers", None)
        try:
            if shutdown is not None and not getattr(self._iterator, "_shutdown", True):
                shutdown()
        except RuntimeError as error:
            if "killed by signal" not in str(error):
                raise
        finally:
            for process in self._processes:
                _stop(process)


def worker_has_ended(process) -> bool:
    """Whether a worker process has ended, read from its sentinel (closed by the operating system when the
    process exits), not from ``is_alive()``: multiprocessing loses a child's exit status when torch's SIGCHLD
    handler raises (another worker died by a signal) between its ``waitpid`` and the bookkeeping after it,
    and ``is_alive()`` then reports a reaped process as alive forever."""
    return bool(wait_for_sentinels([process.sentinel], timeout=0))


def _stop(process) -> None:
    """Reap one worker process: wait up to ``STOP_GRACE_SECONDS``, then SIGKILL it and wait for its end."""
    killed = not wait_for_sentinels([process.sentinel], timeout=STOP_GRACE_SECONDS)  # still running
    if killed:
        process.kill()  # torch's shutdown was cut short (another worker's signal, a hung worker)
        wait_for_sentinels([process.sentinel])  # SIGKILL cannot be caught or ignored: this returns
        logger.warning(
            "Data-loading worker %s did not stop within %g s and was killed.", process.pid, STOP_GRACE_SECONDS
        )
    process.join()  # the process has ended: this reaps it, or returns at once when it was reaped already
    if not killed and process.exitcode is not None and process.exitcode < 0:
        logger.warning(
            "Data-loading worker %s ended abnormally while stopping (signal %d); the batches it "
            "delivered are unaffected.",
            process.pid,
            -process.exitcode,
        )
