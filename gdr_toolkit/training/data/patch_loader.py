"""``PatchLoader``: an endless stream of augmented training batches, in worker processes or in-process."""

from __future__ import annotations

from gdr_toolkit.training.data.batch_assembly import assemble_batch
from gdr_toolkit.training.data.options import LoaderOptions
from gdr_toolkit.training.data.preprocessed_dataset import PreprocessedDataset
from gdr_toolkit.training.data.worker_loader import WorkerLoader, batch_generator


class PatchLoader:
    """Infinite iterator of training batches; also a context manager (``close`` on exit).

    Each batch is ``{"data": float32 (B, C, *patch_size), "case_ids": list of B case ids}`` where C runs
    over all stored channels (``dataset.channels``) augmented together: continuous channels and the
    brain mask are interpolated linearly (threshold the mask at 0.5); so is the ``valid_mask`` channel
    when the data have one (valid where >= ``valid_mask.VALID_THRESHOLD``).

    Batch i is drawn from ``default_rng([seed, i])`` (i from ``options.first_batch``), in the calling
    process (``num_workers == 0``) or in worker processes (``worker_loader``): the same stream. The workers
    live as long as the loader. A worker that dies raises a RuntimeError in ``__next__``; an exception in
    a worker reaches the caller with the worker's traceback.

    Args:
        dataset: the training cases.
        options: patch size, batch size, oversampling, augmentation, workers and seed.
    """

    def __init__(self, dataset: PreprocessedDataset, options: LoaderOptions) -> None:
        self.dataset = dataset
        self.options = options
        self._next_index = options.first_batch
        self._pool = WorkerLoader(dataset, options) if options.num_workers > 0 else None
        self._closed = False

    @property
    def worker_pids(self) -> list[int | None]:
        """Process ids of the worker processes (empty for ``num_workers == 0``)."""
        return self._pool.pids if self._pool is not None else []

    def __iter__(self) -> PatchLoader:
        return self

    def __next__(self) -> dict:
        if self._closed:
            raise RuntimeError("The PatchLoader was closed; create a new one.")
        if self._pool is not None:
            return self._pool.next_batch()
        batch = assemble_batch(batch_generator(self.options, self._next_index), self.dataset, self.options)
        self._next_index += 1
        return batch

    def close(self) -> None:
        """Stop the worker processes and free their shared memory (also done on garbage collection)."""
        self._closed = True
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> PatchLoader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
