"""Analytic parameter count, forward FLOPs and peak training memory of ``ConditionalUNet``.

The architecture is walked layer by layer without building it. Peak memory of one training step
(forward, loss, backward, Adam update) is modelled as::

    parameters * 4 (weights, gradients, Adam's two moments)
    + the batch (image, condition, target)
    + TRAINING_MEMORY_CALIBRATION * (tensors autograd saves for backward + gradients in flight)

Saved tensors per layer (float, ``values = channels * batch * voxels``):

- conv: its input (also for the fixed blur-pool kernel: autograd saves the padded input);
- SiLU: its input; sigmoid and ReLU: their output; elementwise products: both factors;
- concatenation, addition, padding and trilinear upsampling save nothing themselves;
- a tensor that several layers save is counted once (a CRB's input is saved by its SiLU and its
  1x1x1 skip conv).

Gradients in flight: at the start of backward the gradient of the finest-scale features and of the
skip connection into it coexist with the saved tensors; ``FINEST_GRADIENT_TENSORS`` such tensors of
``widths[0]`` channels at full resolution are added.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gdr_toolkit.network.unet import NetworkConfig, minimum_divisor

# Measured / modelled activation memory: 0.93-1.05 over 11 configurations (widths 8-16 at the finest
# scale, 3-4 scales, gated/concatenate, blur pool/strided, K = 0/4, 32^3-64^3, batch 1-4) on CPU (torch
# 2.13, 2 threads, oneDNN convolutions, glibc with a fixed 64 KiB mmap threshold); the largest ratio is
# taken so the estimate errs high. Table: documentation/network.md, `python benchmarks/network_memory.py`.
TRAINING_MEMORY_CALIBRATION = 1.05
FINEST_GRADIENT_TENSORS = 3
OPTIMISER_COPIES_PER_PARAMETER = 4  # weight, gradient, Adam exp_avg, Adam exp_avg_sq


@dataclass
class _Tally:
    """Running totals of one walk over the architecture."""

    parameters: int = 0
    multiply_adds: int = 0
    saved_values: int = 0

    def conv(
        self, in_channels: int, out_channels: int, kernel: int, positions: int, trainable: bool = True
    ) -> None:
        """A dense conv (or, with ``trainable=False``, a fixed depthwise one: in == out, groups == in)."""
        if trainable:
            self.parameters += in_channels * out_channels * kernel**3 + out_channels
            self.multiply_adds += in_channels * out_channels * kernel**3 * positions
        else:
            self.multiply_adds += in_channels * kernel**3 * positions

    def linear(self, in_features: int, out_features: int, batch_size: int) -> None:
        self.parameters += in_features * out_features + out_features
        self.multiply_adds += in_features * out_features * batch_size


def _walk(config: NetworkConfig, patch_size: tuple[int, int, int], batch_size: int) -> _Tally:
    """Tally parameters, multiply-adds and saved values of one forward pass (see module docstring)."""
    _check_arguments(config, patch_size, batch_size)
    tally, widths, embedding = _Tally(), config.widths, config.embedding_features
    shapes = [tuple(math.ceil(size / 2**scale) for size in patch_size) for scale in range(config.scales)]
    positions = [batch_size * math.prod(shape) for shape in shapes]
    if config.condition_features == 0:
        tally.parameters += embedding
    else:
        tally.linear(config.condition_features, embedding, batch_size)
        tally.linear(embedding, embedding, batch_size)
    tally.conv(config.input_channels, widths[0], 3, positions[0])
    tally.saved_values += config.input_channels * positions[0]
    for scale, width in enumerate(widths):
        entering = widths[0] if scale == 0 else widths[scale - 1] + config.input_channels
        if scale > 0:
            _downsampling(tally, config, widths[scale - 1], shapes[scale - 1], positions[scale], batch_size)
        _block_stack(tally, entering, width, config.blocks_per_scale, embedding, positions[scale], batch_size)
    for scale in range(config.scales - 1):
        _fusion(tally, config, widths[scale + 1], widths[scale], positions[scale])
        _block_stack(
            tally,
            widths[scale],
            widths[scale],
            config.blocks_per_scale,
            embedding,
            positions[scale],
            batch_size,
        )
    tally.conv(widths[0], config.output_channels, 3, positions[0])
    tally.saved_values += 2 * widths[0] * positions[0] + config.output_channels * positions[0]
    return tally


def _block_stack(
    tally: _Tally,
    in_channels: int,
    out_channels: int,
    blocks: int,
    embedding: int,
    positions: int,
    batch_size: int,
) -> None:
    """CRBs: input and SiLU(input), biased residual and its SiLU are saved; conv outputs are not."""
    for index in range(blocks):
        block_in = in_channels if index == 0 else out_channels
        tally.conv(block_in, out_channels, 3, positions)
        tally.linear(embedding, out_channels, batch_size)
        tally.conv(out_channels, out_channels, 3, positions)
        if block_in != out_channels:
            tally.conv(block_in, out_channels, 1, positions)
        tally.saved_values += 2 * block_in * positions + 2 * out_channels * positions


def _downsampling(
    tally: _Tally,
    config: NetworkConfig,
    channels: int,
    fine_shape: tuple[int, ...],
    positions: int,
    batch_size: int,
) -> None:
    """Feature and input downsampling into a coarser scale; only the feature conv's input is saved."""
    kernel = 5 if config.downsampling == "blur_pool" else 1
    tally.conv(channels, channels, kernel, positions, trainable=False)
    tally.conv(config.input_channels, config.input_channels, kernel, positions, trainable=False)
    if config.downsampling == "blur_pool":
        tally.saved_values += channels * batch_size * math.prod(size + 4 for size in fine_shape)
    elif config.fusion == "concatenate":
        tally.saved_values += channels * batch_size * math.prod(fine_shape)  # the skip itself


def _fusion(tally: _Tally, config: NetworkConfig, coarse: int, skip: int, positions: int) -> None:
    """Upsampling fusion; the output is counted as the next CRB's input."""
    joint = coarse + skip
    if config.fusion == "concatenate":
        tally.conv(joint, skip, 1, positions)
        tally.saved_values += joint * positions
        return
    for in_channels in (coarse, skip, joint, joint):  # the parameters of W1, W2, W~1, W~2
        tally.conv(in_channels, skip, 1, 0)
    # as computed (gated_upsampling.py): the f_u columns on the coarse grid (positions / 8), the f_s ones here
    coarse_positions = positions // 8
    tally.multiply_adds += coarse * 3 * skip * coarse_positions + skip * 3 * skip * positions
    # coarse input, skip, the upsampled and skip-side terms (3 + 3), two sigmoid outputs
    tally.saved_values += coarse * coarse_positions + (skip + 6 * skip + 2 * skip) * positions


def _check_arguments(config: NetworkConfig, patch_size: tuple[int, int, int], batch_size: int) -> None:
    divisor = minimum_divisor(config)
    if len(patch_size) != 3 or any(size < 1 or size % divisor for size in patch_size):
        raise ValueError(
            f"patch_size must be 3 positive sizes divisible by {divisor}, got {tuple(patch_size)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")


def count_parameters(config: NetworkConfig) -> int:
    """Number of trainable parameters of ``ConditionalUNet(config)``."""
    return _walk(config, (minimum_divisor(config),) * 3, 1).parameters


def estimate_forward_flops(config: NetworkConfig, patch_size: tuple[int, int, int], batch_size: int) -> int:
    """Floating-point operations of one forward pass: 2 x multiply-adds of all convs and linears.

    Includes the fixed blur-pool convolutions; elementwise operations, upsampling and biases are not
    counted. A training step costs about 3x this (forward plus two backward products).

    Args:
        config: the network configuration.
        patch_size: spatial input size (D, H, W), voxels, divisible by ``minimum_divisor(config)``.
        batch_size: patches per batch.
    """
    return 2 * _walk(config, patch_size, batch_size).multiply_adds


def estimate_training_memory_bytes(
    config: NetworkConfig, patch_size: tuple[int, int, int], batch_size: int, bytes_per_value: int = 4
) -> int:
    """Estimated peak memory of one Adam training step of ``ConditionalUNet(config)`` (module docstring).

    Args:
        config: the network configuration.
        patch_size: spatial input size (D, H, W), voxels, divisible by ``minimum_divisor(config)``.
        batch_size: patches per step.
        bytes_per_value: bytes of one stored value (4 for float32).

    Returns:
        Bytes; linear in ``batch_size`` apart from the parameter term.
    """
    tally = _walk(config, patch_size, batch_size)
    voxels = batch_size * math.prod(patch_size)
    activations = tally.saved_values + FINEST_GRADIENT_TENSORS * config.widths[0] * voxels
    batch = (config.input_channels + config.output_channels) * voxels + batch_size * config.condition_features
    values = OPTIMISER_COPIES_PER_PARAMETER * tally.parameters + batch
    return int(bytes_per_value * (values + TRAINING_MEMORY_CALIBRATION * activations))
