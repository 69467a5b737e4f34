"""The training epoch of a ``GDRTrainer``: its optimiser steps, the progress bar and the epoch's log line."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch

from gdr_toolkit.training.distributed import all_reduce_sum

if TYPE_CHECKING:
    from gdr_toolkit.training.data import PatchLoader
    from gdr_toolkit.training.trainer import GDRTrainer

ProgressFactory = Callable[[str, int], contextlib.AbstractContextManager[Any]]
_NO_PROGRESS_BAR = SimpleNamespace(update=lambda count=1: None)


def no_progress(description: str, total: int) -> contextlib.AbstractContextManager[Any]:
    """A ``ProgressFactory`` that shows nothing (the library default; the CLI passes tqdm)."""
    return contextlib.nullcontext(_NO_PROGRESS_BAR)


def train_epoch(trainer: GDRTrainer, epoch: int, loader: PatchLoader, progress: ProgressFactory) -> float:
    """``iterations_per_epoch`` calls of ``trainer.train_step``; returns the mean loss over all ranks."""
    trainer.network.train()
    losses = []
    iterations = trainer.recipe.iterations_per_epoch
    with progress(f"epoch {epoch + 1}/{trainer.recipe.num_epochs}", iterations) as bar:
        for _ in range(iterations):
            losses.append(trainer.train_step(next(loader)))
            trainer.current_iteration += 1
            bar.update(1)
    totals = torch.tensor([sum(losses), len(losses)], dtype=torch.float64, device=trainer.device)
    totals = all_reduce_sum(totals, trainer.distributed)
    return float(totals[0] / totals[1])


def epoch_summary(record: dict[str, Any]) -> str:
    """One log line for an epoch's training-log record (losses, PSNR_B in dB, learning rate, seconds)."""
    psnr = record.get("validation_psnr_db")
    return (
        f"epoch {record['epoch']}: train loss {record['train_loss']:.5f}, validation loss "
        f"{record['validation_loss']:.5f}, PSNR_B {'n/a' if psnr is None else f'{psnr:.2f}'} dB, "
        f"lr {record['learning_rate']:.3g}, {record['epoch_seconds']:.1f} s"
    )
