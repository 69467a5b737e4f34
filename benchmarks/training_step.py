"""One training step of ConditionalUNet vs nnU-Net's PlainConvUNet: seconds, peak memory, FLOPs, FLOP/s.

A step is forward, Huber loss (delta 0.1, as in ``gdr_toolkit.network.memory_measurement``), backward and
an Adam update on random data (no gradient clipping or loss scaling). Networks:

- ``ours``: ``ConditionalUNet`` (norm-free conditional residual blocks, SiLU, blur-pool downsampling,
  gated upsampling, input injection, K = 4 conditions).
- ``plain``: ``PlainConvUNet`` from ``dynamic_network_architectures`` (nnU-Net's default network) with
  the same stages, widths and 3x3x3 kernels, matched to ours: 2 convolutions per residual block
  (``n_conv_per_stage = n_conv_per_stage_decoder = 2 * blocks_per_scale``, so both networks have the
  same number of 3x3x3 convolutions per stage), conv bias, no normalisation, SiLU.
- ``plain-nnunet``: the same with nnU-Net's defaults, InstanceNorm3d (affine, eps 1e-5) and LeakyReLU
  (slope 0.01).

PlainConvUNet downsamples with a stride-2 first convolution and upsamples with transposed
convolutions; it takes no condition (the condition is ignored). Steps of all networks are interleaved
(ours, plain, ..., ours, plain, ...) after one warm-up step each, so machine load hits them equally;
the median is printed. FLOPs of forward + backward are counted once per network with
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; element-wise operations
are not counted). Peak memory runs every network in a fresh process (one warm-up and one measured
step): on CPU the process's peak resident set (VmHWM, includes Python, torch and the weights), on
CUDA ``torch.cuda.max_memory_allocated``; "step MiB" is that peak minus what was in use before the
first step (weights, batch, and on CPU the interpreter and libraries). The CPU peak FLOP/s is
threads x clock (/proc/cpuinfo) x 2 FMA units x SIMD fp32 lanes (16 for AVX-512, 8 for AVX2) x 2 FLOP
per FMA.

Usage: python benchmarks/training_step.py [--paper] [--repeats 5] [--threads 2] [--device cpu]
       [--variants ours plain plain-nnunet] [--no-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

VARIANTS = ("ours", "plain", "plain-nnunet")
CONDITION_FEATURES = 4
MMAP_THRESHOLD_BYTES = 65536
MEBIBYTE = 2**20


@dataclass(frozen=True)
class StepSetup:
    """One benchmark configuration (the CPU plan by default)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_scale: int = 2
    patch: int = 48
    batch_size: int = 2
    device: str = "cpu"


PAPER = StepSetup(widths=(32, 64, 128, 256), patch=64)


class Unconditioned(nn.Module):
    """Gives a network that takes only images the ``(image, condition)`` call of ConditionalUNet."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.network(image)


def build_network(variant: str, setup: StepSetup) -> nn.Module:
    """The network ``variant`` (module docstring) for ``setup``, 3 input channels, 1 output channel."""
    if variant == "ours":
        config = NetworkConfig(widths=setup.widths, blocks_per_scale=setup.blocks_per_scale)
        return ConditionalUNet(config)
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    if variant == "plain":
        norm = {"norm_op": None, "nonlin": nn.SiLU, "nonlin_kwargs": {"inplace": True}}
    elif variant == "plain-nnunet":
        norm = {"norm_op": nn.InstanceNorm3d, "norm_op_kwargs": {"eps": 1e-5, "affine": True}}
        norm |= {"nonlin": nn.LeakyReLU, "nonlin_kwargs": {"negative_slope": 0.01, "inplace": True}}
    else:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    stages, convs = len(setup.widths), 2 * setup.blocks_per_scale
    plain = PlainConvUNet(
        input_channels=3, n_stages=stages, features_per_stage=list(setup.widths), conv_op=nn.Conv3d,
        kernel_sizes=3, strides=[1] + [2] * (stages - 1), n_conv_per_stage=convs, num_classes=1,
        n_conv_per_stage_decoder=convs, conv_bias=True, deep_supervision=False, **norm,
    )  # fmt: skip
    return Unconditioned(plain)


def training_step(variant: str, setup: StepSetup, seed: int = 0) -> tuple[Callable[[], None], nn.Module]:
    """A closure that runs one step of ``variant`` on a fixed random batch, and the network."""
    torch.manual_seed(seed)
    device = torch.device(setup.device)
    network = build_network(variant, setup).to(device)
    optimiser = torch.optim.Adam(network.parameters(), lr=1e-4)
    shape = (setup.batch_size, 3, *(setup.patch,) * 3)
    image = torch.randn(shape, device=device)
    condition = torch.randn(setup.batch_size, CONDITION_FEATURES, device=device)
    target = torch.rand(setup.batch_size, 1, *shape[2:], device=device)

    def step() -> None:
        optimiser.zero_grad(set_to_none=True)
        F.huber_loss(network(image, condition), target, delta=0.1).backward()
        optimiser.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step, network


def count_step_flops(variant: str, setup: StepSetup) -> tuple[int, int]:
    """FLOPs of forward + loss + backward (convolutions and matrix products) and parameter count.

    Runs on the meta device: shapes only, no arithmetic, so it takes no time even for the paper network.
    """
    with torch.device("meta"):
        network = build_network(variant, setup)
        shape = (setup.batch_size, 3, *(setup.patch,) * 3)
        image, target = torch.randn(shape), torch.rand(setup.batch_size, 1, *shape[2:])
        condition = torch.randn(setup.batch_size, CONDITION_FEATURES)
    with FlopCounterMode(display=False) as counter:
        F.huber_loss(network(image, condition), target, delta=0.1).backward()
    return counter.get_total_flops(), sum(parameter.numel() for parameter in network.parameters())


def time_steps(variants: list[str], setup: StepSetup, repeats: int) -> dict[str, list[float]]:
    """Seconds of ``repeats`` steps per variant, interleaved, after one warm-up step each."""
    steps = {variant: training_step(variant, setup)[0] for variant in variants}
    for step in steps.values():
        step()
    seconds: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(repeats):
        for variant, step in steps.items():
            began = time.perf_counter()
            step()
            seconds[variant].append(time.perf_counter() - began)
    return seconds


def peak_memory_bytes(variant: str, setup: StepSetup, threads: int) -> tuple[int, int]:
    """Peak memory of a warm-up and a measured step in a fresh process (module docstring), and the
    memory in use before the first step (CPU: resident set; CUDA: allocated), bytes."""
    request = json.dumps({"variant": variant, "setup": setup.__dict__, "threads": threads})
    environment = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD_BYTES))
    completed = subprocess.run(
        [sys.executable, __file__, "--child", request], capture_output=True, text=True, env=environment
    )
    if completed.returncode != 0:
        raise RuntimeError(f"memory measurement of {variant} failed:\n{completed.stderr[-2000:]}")
    peak, before = json.loads(completed.stdout.strip().splitlines()[-1])
    return peak, before


def _child(request: dict) -> tuple[int, int]:
    torch.set_num_threads(request["threads"])
    setup = StepSetup(**{**request["setup"], "widths": tuple(request["setup"]["widths"])})
    step, _ = training_step(request["variant"], setup)
    if setup.device == "cuda":
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        before = _status_bytes("VmRSS")
    step()
    step()
    if setup.device == "cuda":
        return torch.cuda.max_memory_allocated(), before
    return _status_bytes("VmHWM"), before


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status, bytes. VmHWM (peak resident set) rather than ru_maxrss:
    Linux keeps ru_maxrss across exec, so a child would inherit the forking parent's resident set."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def cpu_peak_flops(threads: int) -> tuple[float, str]:
    """Peak fp32 FLOP/s of ``threads`` cores and how it was derived (module docstring)."""
    megahertz = 0.0
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("cpu MHz"):
                megahertz = float(line.split(":")[1])
                break
    capability = torch.backends.cpu.get_cpu_capability()
    lanes = 16 if "AVX512" in capability else 8
    peak = threads * megahertz * 1e6 * 2 * lanes * 2
    derivation = f"{threads} cores x {megahertz / 1000:.2f} GHz x 2 FMA units x {lanes} fp32 lanes "
    derivation += f"({capability}) x 2 FLOP/FMA = {peak / 1e9:.0f} GFLOP/s"
    return peak, derivation


def report(setup: StepSetup, variants: list[str], repeats: int, threads: int, memory: bool) -> None:
    """Measure every variant and print one table row each."""
    seconds = time_steps(variants, setup, repeats)
    peak, derivation = cpu_peak_flops(threads) if setup.device == "cpu" else (0.0, "n/a on CUDA")
    reference = statistics.median(seconds["ours"]) if "ours" in seconds else None
    print(f"peak: {derivation}")
    print(
        "| network | parameters | s/step (median) | min-max | ours/this | GFLOP/step | GFLOP/s | % of peak "
        "| peak MiB | step MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        median = statistics.median(seconds[variant])
        flops, parameters = count_step_flops(variant, setup)
        ratio = f"{reference / median:.2f}" if reference else "-"
        share = f"{100 * flops / median / peak:.1f}" if peak else "-"
        peak_bytes, before = peak_memory_bytes(variant, setup, threads) if memory else (0, 0)
        memory_columns = (
            f"{peak_bytes / MEBIBYTE:.0f} | {(peak_bytes - before) / MEBIBYTE:.0f}" if memory else "- | -"
        )
        print(
            f"| {variant} | {parameters / 1e6:.2f} M | {median:.3f} | {min(seconds[variant]):.3f}-"
            f"{max(seconds[variant]):.3f} | {ratio} | {flops / 1e9:.1f} | {flops / median / 1e9:.1f} | "
            f"{share} | {memory_columns} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="paper network 32/64/128/256, 64^3, batch 2")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per network (5; paper 2)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads on CPU")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--patch", type=int, default=None, help="override the patch edge (voxels)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(_child(json.loads(arguments.child))))
        return
    torch.set_num_threads(arguments.threads)
    torch.backends.cudnn.benchmark = True
    setup = PAPER if arguments.paper else StepSetup()
    overrides = {"device": arguments.device}
    if arguments.patch:
        overrides["patch"] = arguments.patch
    setup = StepSetup(**{**setup.__dict__, **overrides})
    repeats = arguments.repeats or (2 if arguments.paper else 5)
    print(
        f"widths {'/'.join(map(str, setup.widths))}, {setup.blocks_per_scale} blocks per scale "
        f"(PlainConvUNet: {2 * setup.blocks_per_scale} convs per stage), patch {setup.patch}^3, "
        f"batch {setup.batch_size}, {setup.device}, {arguments.threads} threads, {repeats} interleaved "
        f"repeats, torch {torch.__version__}"
    )
    report(setup, arguments.variants, repeats, arguments.threads, not arguments.no_memory)


if __name__ == "__main__":
    main()
