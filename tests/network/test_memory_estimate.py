from __future__ import annotations

import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gdr_toolkit.network.memory_estimate import (
    count_parameters,
    estimate_forward_flops,
    estimate_training_memory_bytes,
)
from gdr_toolkit.network.memory_measurement import measure_training_step
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

CONFIGS = [
    NetworkConfig(),
    NetworkConfig(widths=(4, 8, 16), condition_features=0, embedding_features=8),
    NetworkConfig(widths=(4, 8), blocks_per_scale=3, fusion="concatenate", downsampling="strided"),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_count_parameters_matches_the_built_network(config):
    assert count_parameters(config) == sum(
        parameter.numel() for parameter in ConditionalUNet(config).parameters()
    )


@pytest.mark.parametrize("config", CONFIGS[1:])
def test_forward_flops_match_torch_flop_counter(config):
    model = ConditionalUNet(config)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 3, 16, 16, 16), torch.randn(2, config.condition_features))
    assert estimate_forward_flops(config, (16, 16, 16), 2) == counter.get_total_flops()


def test_memory_estimate_grows_linearly_with_batch():
    config = NetworkConfig(widths=(8, 16, 32, 64))
    one, two, four = (estimate_training_memory_bytes(config, (32, 32, 32), batch) for batch in (1, 2, 4))
    assert two > one and abs((four - two) - 2 * (two - one)) <= 4


def test_memory_estimate_grows_about_linearly_with_patch_voxels():
    config = NetworkConfig(widths=(8, 16, 32, 64))
    small, large = (estimate_training_memory_bytes(config, (size,) * 3, 2) for size in (32, 64))
    assert 7.0 < large / small < 9.0


def test_memory_estimate_scales_with_bytes_per_value():
    config = NetworkConfig(widths=(8, 16))
    single = estimate_training_memory_bytes(config, (16, 16, 16), 2, bytes_per_value=4)
    half = estimate_training_memory_bytes(config, (16, 16, 16), 2, bytes_per_value=2)
    assert abs(single - 2 * half) <= 2


def test_memory_estimate_rejects_a_patch_the_network_cannot_take():
    with pytest.raises(ValueError, match="divisible by 8"):
        estimate_training_memory_bytes(NetworkConfig(), (96, 96, 100), 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the CPU measurement reads /proc/self")
def test_memory_estimate_is_within_25_percent_of_a_measured_cpu_training_step():
    config = NetworkConfig(widths=(8, 16, 32, 64))
    measurement = measure_training_step(config.to_json_dict(), (32, 32, 32), 2)
    measured = measurement.step_peak_bytes + measurement.resident_tensor_bytes
    estimated = estimate_training_memory_bytes(config, (32, 32, 32), 2)
    assert 0.75 < measured / estimated < 1.25
