"""Multi-process data-parallel training (``torchrun --nproc_per_node N -m gdr_toolkit.cli.train ...``).

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them training runs in one process.
Multi-node: ``torchrun --nnodes M --nproc_per_node N --rdzv_backend c10d --rdzv_endpoint HOST:PORT
--rdzv_id JOB ...`` on every node (documentation/training.md). Backend: NCCL on CUDA (one GPU per
process, ``cuda:LOCAL_RANK``), gloo on CPU. The plan's batch size is *per process*: M x N processes
train with a global batch of M x N x the plan's (the learning rate is not scaled). Every rank draws its
own patches (its own loader seed); every rank validates its share of the validation patches; only rank 0
writes files and logs.
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
