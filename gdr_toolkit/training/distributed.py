"""Multi-process data-parallel training (``torchrun --nproc_per_node N -m gdr_toolkit.cli.train ...``).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them training runs in one process.
Backend: NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``), gloo on CPU. The plan's batch size
is the *global* batch: it is split across the ranks (the first ``batch % world_size`` ranks take one
more patch). Every rank draws its own patches (its own loader seed); only rank 0 writes files and logs.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_distributed
from torch import nn
from torch.nn.parallel import DistributedDataParallel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the process group.

    Attributes:
        rank: global rank (0 .. world_size - 1).
        world_size: number of processes (1 without torchrun).
        local_rank: rank on this machine (selects the GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Only the main process (rank 0) writes checkpoints, logs and plots."""
        return self.rank == 0

    def local_batch_size(self, global_batch_size: int) -> int:
        """This rank's share of ``global_batch_size``."""
        if global_batch_size < self.world_size:
            raise ValueError(
                f"batch_size {global_batch_size} cannot be split across {self.world_size} processes; "
                "use fewer processes or plans with a larger batch"
            )
        share, remainder = divmod(global_batch_size, self.world_size)
        return share + int(self.rank < remainder)


def initialise_distributed(device_type: str) -> DistributedContext:
    """Join the process group described by torchrun's environment variables (or stay single).

    Args:
        device_type: ``"cpu"``, ``"cuda"`` or ``"mps"``; selects the backend (nccl for CUDA, else gloo).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    context = DistributedContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not torch_distributed.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(context.local_rank)
        torch_distributed.init_process_group(backend=backend)
        logger.info("rank %d of %d joined the %s process group", context.rank, world_size, backend)
    return context


def wrap_model(network: nn.Module, context: DistributedContext, device: torch.device) -> nn.Module:
    """``DistributedDataParallel(network)`` in a process group, else ``network`` itself."""
    if not context.is_distributed:
        return network
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(network, device_ids=device_ids)


def all_reduce_sum(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Sum ``values`` (float64 on the CPU for gloo, on ``values.device`` otherwise) over all ranks."""
    if not context.is_distributed:
        return values
    torch_distributed.all_reduce(values, op=torch_distributed.ReduceOp.SUM)
    return values


def barrier(context: DistributedContext) -> None:
    if context.is_distributed:
        torch_distributed.barrier()


def shutdown_distributed(context: DistributedContext) -> None:
    if context.is_distributed and torch_distributed.is_initialized():
        torch_distributed.destroy_process_group()
