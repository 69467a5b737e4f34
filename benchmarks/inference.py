"""Full-volume sliding-window inference: gdr_toolkit's ``sliding_window_inference`` vs MONAI's.

Both run the same network (``ConditionalUNet``, CPU plan 16/32/64/128 by default; a fixed condition, for
MONAI closed over in a small module), the same patch (48^3), the same overlap (our ``step_size`` 0.5 ==
MONAI ``overlap`` 0.5) and Gaussian blending with sigma = patch / 8 (ours: ``SIGMA_FRACTION``; MONAI:
``mode="gaussian", sigma_scale=0.125``), the same number of patches per forward pass, in inference
mode, in one process, interleaved (ours, MONAI, MONAI, ours, ...) after one warm-up forward pass. The
volumes are random 3-channel tensors with the sizes of the simulated phantom at 2 mm and 1 mm. The
residual blocks' last convolutions, zero at initialisation, are re-initialised so that the network is
not close to its skip path.

The two tile the volume differently: ours spreads the patch starts evenly between 0 and the last
possible start, MONAI steps by int(0.5 * patch) and shifts the last patch back to the edge (same patch
count here). Their outputs therefore differ where the network's output depends on the patch position
(its border effects; large for an untrained network): the max abs difference is printed and the
relative L2 difference ||ours - MONAI|| / ||ours|| is checked against ``--tolerance``. The blending
itself is checked first on a volume where both tilings coincide, with MONAI given our importance map:
there the outputs must agree to 1e-5 (relative).

With ``--mirroring`` ours averages the 8 axis flips (``use_mirroring=True``) and MONAI gets a predictor
that does the same one flip per forward pass (as nnU-Net's predictor does). ``--network pointwise``
replaces the U-Net by a 1x1x1 convolution, which measures the sliding-window machinery alone.

Timed calls run with glibc's default allocator settings. Peak memory is measured separately, in a
fresh process per implementation and case, with the network replaced by a stand-in that returns
zeros of the output shape: the sliding window's own memory (volume, accumulators, patch batches,
outputs) above what was in use before the call. The network's activations come on top and are the
same for both. On CPU the peak is the resident set's high-water mark (reset through
/proc/self/clear_refs before the call; the process runs with glibc's mmap threshold at 64 KiB so that
freed tensors leave the resident set), on CUDA ``torch.cuda.max_memory_allocated``.

Usage: python benchmarks/inference.py [--spacings 2 1] [--repeats 3] [--batch-size 1] [--threads 2]
       [--network cpu|paper|pointwise] [--mirroring] [--device cpu]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from gdr_toolkit.inference.sliding_window import (
    SIGMA_FRACTION,
    SlidingWindowOptions,
    gaussian_importance_map,
    patch_positions,
    sliding_window_inference,
)
from gdr_toolkit.network.conditional_residual_block import ConditionalResidualBlock
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

# (D, H, W) = (z, y, x) voxels of the simulated phantom (SimulationSettings) at 2 mm and 1 mm
PHANTOM_SHAPES = {2.0: (95, 117, 99), 1.0: (189, 233, 197)}
NETWORK_WIDTHS = {"cpu": (16, 32, 64, 128), "paper": (32, 64, 128, 256)}
MMAP_THRESHOLD_BYTES = 65536
MEBIBYTE = 2**20
BLENDING_TOLERANCE = 1e-5

Runner = Callable[[torch.Tensor], torch.Tensor]


class FixedCondition(nn.Module):
    """MONAI's predictor: ``network(image, condition)`` with one condition vector for every patch."""

    def __init__(self, network: nn.Module, condition: torch.Tensor) -> None:
        super().__init__()
        self.network = network
        self.register_buffer("condition", condition.reshape(1, -1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image, self.condition.expand(image.shape[0], -1))


class Mirrored(nn.Module):
    """Mean prediction over the 8 flips of the spatial axes, one forward pass per flip (nnU-Net style)."""

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        self.predictor = predictor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        flips = [(), (2,), (3,), (4,), (2, 3), (2, 4), (3, 4), (2, 3, 4)]
        total = sum(
            self.predictor(image.flip(axes)).flip(axes) if axes else self.predictor(image) for axes in flips
        )
        return total / len(flips)


class Pointwise(nn.Module):
    """A 1x1x1 convolution with ConditionalUNet's call: isolates the sliding window's own cost."""

    def __init__(self) -> None:
        super().__init__()
        self.convolution = nn.Conv3d(3, 1, kernel_size=1)

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.convolution(image)


def build_network(name: str, device: torch.device) -> nn.Module:
    """The benchmarked network in eval mode on ``device`` (module docstring)."""
    torch.manual_seed(0)
    if name == "pointwise":
        return Pointwise().to(device).eval()
    network = ConditionalUNet(NetworkConfig(widths=NETWORK_WIDTHS[name]))
    for module in network.modules():
        if isinstance(module, ConditionalResidualBlock):
            module.conv_out.reset_parameters()
    return network.to(device).eval()


def ours_runner(network: nn.Module, condition: torch.Tensor, options: SlidingWindowOptions, device) -> Runner:
    def run(volume: torch.Tensor) -> torch.Tensor:
        return sliding_window_inference(network, volume, condition, options, device)

    return run


def monai_runner(
    network: nn.Module,
    condition: torch.Tensor,
    options: SlidingWindowOptions,
    device: torch.device,
    weight_map: torch.Tensor | None = None,
) -> Runner:
    from monai.inferers import sliding_window_inference as monai_sliding_window_inference

    predictor: nn.Module = FixedCondition(network, condition.to(device))
    if options.use_mirroring:
        predictor = Mirrored(predictor)

    def run(volume: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            output = monai_sliding_window_inference(
                volume[None].to(device), roi_size=options.patch_size, sw_batch_size=options.batch_size,
                predictor=predictor, overlap=1.0 - options.step_size, mode="gaussian",
                sigma_scale=SIGMA_FRACTION, padding_mode="constant", cval=0.0, roi_weight_map=weight_map,
            )  # fmt: skip
        return output[0].float().cpu()

    return run


def check_blending(
    network: nn.Module, condition: torch.Tensor, options: SlidingWindowOptions, device
) -> float:
    """Relative max difference on a volume where both tilings coincide, MONAI given our importance map."""
    shape = tuple(2 * size - size // 2 for size in options.patch_size)  # starts 0, patch/2, patch - patch/2
    volume = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    weight_map = gaussian_importance_map(options.patch_size).to(device)
    ours = ours_runner(network, condition, options, device)(volume)
    theirs = monai_runner(network, condition, options, device, weight_map)(volume)
    difference = float((ours - theirs).abs().max() / ours.abs().max().clamp_min(1e-12))
    if difference > BLENDING_TOLERANCE:
        raise AssertionError(
            f"outputs on a common tiling differ by {difference:.2e} (relative) > {BLENDING_TOLERANCE}"
        )
    return difference


class ZeroStandIn(nn.Module):
    """Returns zeros of the network's output shape: what is left is the sliding window's memory."""

    def __init__(self, output_channels: int) -> None:
        super().__init__()
        self.output_channels = output_channels

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return image.new_zeros((image.shape[0], self.output_channels, *image.shape[2:]))


def seconds_of(run: Runner, volume: torch.Tensor, device: torch.device) -> tuple[float, torch.Tensor]:
    """Wall time of one call and its output."""
    began = time.perf_counter()
    output = run(volume)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - began, output


def peak_bytes(call: Callable[[], object], device: torch.device) -> int:
    """Peak memory of ``call()`` above what was in use before it (module docstring)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        call()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    before = _status_bytes("VmRSS")
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")  # VmHWM := VmRSS
    call()
    return _status_bytes("VmHWM") - before


def _status_bytes(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def time_interleaved(
    runners: dict[str, Runner], volume: torch.Tensor, repeats: int, device
) -> dict[str, list]:
    """Seconds of every call per runner, interleaved, alternating which goes first; last outputs."""
    seconds: dict[str, list] = {name: [] for name in runners}
    outputs: dict[str, torch.Tensor] = {}
    order = list(runners)
    for repeat in range(repeats):
        for name in order if repeat % 2 == 0 else reversed(order):
            elapsed, outputs[name] = seconds_of(runners[name], volume, device)
            seconds[name].append(elapsed)
    return {"seconds": seconds, "outputs": outputs}


def time_case(spacing: float, runners: dict[str, Runner], arguments, options) -> dict:
    """Interleaved timings of one phantom size; checks the outputs' agreement."""
    shape = PHANTOM_SHAPES[spacing]
    volume = torch.randn(3, *shape, generator=torch.Generator().manual_seed(0))
    timed = time_interleaved(runners, volume, arguments.repeats, torch.device(arguments.device))
    ours, theirs = timed["outputs"]["ours"], timed["outputs"]["monai"]
    difference, scale = float((ours - theirs).abs().max()), float(ours.abs().max())
    relative = float((ours - theirs).norm() / ours.norm().clamp_min(1e-12))
    seconds = {name: statistics.median(values) for name, values in timed["seconds"].items()}
    patches = len(patch_positions(shape, options.patch_size, options.step_size))
    print(
        f"| {spacing:g} mm {'x'.join(map(str, shape))} | {patches} | {seconds['ours']:.2f} | "
        f"{seconds['monai']:.2f} | {seconds['ours'] / seconds['monai']:.2f} | "
        f"{difference:.1e} (max output {scale:.3g}) | {relative:.1e} |",
        flush=True,
    )
    if relative > arguments.tolerance:
        raise AssertionError(f"outputs differ by {relative:.3g} (relative L2) > {arguments.tolerance}")
    return seconds


def report_memory(arguments, options: SlidingWindowOptions) -> None:
    """Peak memory of each implementation with the network stand-in, each in a fresh process."""
    print("peak memory of the sliding window alone (network stand-in), MiB, fresh process per cell")
    print("| case | ours | MONAI |")
    print("|---|---|---|")
    for spacing in arguments.spacings:
        peaks = {}
        for name in ("ours", "monai"):
            request = {
                "name": name,
                "spacing": spacing,
                "device": arguments.device,
                "threads": arguments.threads,
            }
            request |= {"patch": options.patch_size, "batch_size": options.batch_size}
            request["use_mirroring"] = options.use_mirroring
            completed = subprocess.run(
                [sys.executable, __file__, "--memory-child", json.dumps(request)],
                capture_output=True, text=True, check=False,
                env=dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(MMAP_THRESHOLD_BYTES)),
            )  # fmt: skip
            if completed.returncode != 0:
                raise RuntimeError(f"memory measurement {request} failed:\n{completed.stderr[-2000:]}")
            peaks[name] = int(completed.stdout.strip().splitlines()[-1])
        print(f"| {spacing:g} mm | {peaks['ours'] / MEBIBYTE:.0f} | {peaks['monai'] / MEBIBYTE:.0f} |")


def _memory_child(request: dict) -> int:
    torch.set_num_threads(request["threads"])
    device = torch.device(request["device"])
    options = SlidingWindowOptions(
        tuple(request["patch"]), batch_size=request["batch_size"], use_mirroring=request["use_mirroring"]
    )
    make = ours_runner if request["name"] == "ours" else monai_runner
    run = make(ZeroStandIn(1), torch.zeros(0), options, device)
    volume = torch.randn(3, *PHANTOM_SHAPES[request["spacing"]], device=device)
    return peak_bytes(functools.partial(run, volume), device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spacings", type=float, nargs="+", default=[2.0, 1.0], choices=sorted(PHANTOM_SHAPES)
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per implementation and spacing")
    parser.add_argument("--batch-size", type=int, default=1, help="patches per forward pass (both)")
    parser.add_argument("--patch", type=int, default=48, help="patch edge, voxels")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads on CPU")
    parser.add_argument("--network", default="cpu", choices=("cpu", "paper", "pointwise"))
    parser.add_argument("--mirroring", action="store_true", help="8-flip test-time augmentation in both")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.1,
        help="largest ||ours - MONAI|| / ||ours|| (L2 over the volume)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory calls")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory_child:
        print(_memory_child(json.loads(arguments.memory_child)))
        return
    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    network = build_network(arguments.network, device)
    condition = torch.linspace(-1.0, 1.0, network_condition_features(network))
    options = SlidingWindowOptions(
        (arguments.patch,) * 3, step_size=0.5, batch_size=arguments.batch_size,
        use_mirroring=arguments.mirroring, use_autocast=False,
    )  # fmt: skip
    print(
        f"network {arguments.network}, patch {arguments.patch}^3, step 0.5 / overlap 0.5, Gaussian sigma = "
        f"patch/8, batch {arguments.batch_size}, mirroring {arguments.mirroring}, {device}, "
        f"{arguments.threads} threads, {arguments.repeats} interleaved repeats, torch {torch.__version__}"
    )
    with torch.inference_mode():
        network(torch.zeros(1, 3, *options.patch_size, device=device), condition[None].to(device))
    blending = check_blending(network, condition, options, device)
    print(
        f"blending check on a common tiling: relative max difference {blending:.1e} (<= {BLENDING_TOLERANCE})"
    )
    runners = {
        "ours": ours_runner(network, condition, options, device),
        "monai": monai_runner(network, condition, options, device),
    }
    print("| case | patches | ours s | MONAI s | ours/MONAI | max abs diff | relative L2 diff |")
    print("|---|---|---|---|---|---|---|")
    for spacing in arguments.spacings:
        time_case(spacing, runners, arguments, options)
    if not arguments.no_memory:
        report_memory(arguments, options)


def network_condition_features(network: nn.Module) -> int:
    return network.config.condition_features if isinstance(network, ConditionalUNet) else 0


if __name__ == "__main__":
    main()
