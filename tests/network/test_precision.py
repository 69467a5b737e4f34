"""The precision policy: dtype per GPU generation, inference follows the checkpoint, bf16 agrees with fp32."""

from __future__ import annotations

import pytest
import torch

from gdr_toolkit.inference.sliding_window import SlidingWindowOptions, sliding_window_inference
from gdr_toolkit.network.precision import PrecisionPolicy, inference_precision, resolve_precision
from gdr_toolkit.network.unet import ConditionalUNet, NetworkConfig

# bfloat16 keeps 8 significant bits (relative rounding 2^-9 = 0.2 %); through a 2-scale network and a
# few Adam steps the losses and outputs agree with float32 to a few per cent.
BF16_RELATIVE_TOLERANCE = 0.05


def capability_of(major: int, minor: int):
    return lambda device: (major, minor)


@pytest.mark.parametrize(
    ("capability", "name", "scaler"),
    [((7, 0), "fp16", True), ((7, 5), "fp16", True), ((8, 0), "bf16", False), ((9, 0), "bf16", False)],
)
def test_auto_picks_the_dtype_of_each_gpu_generation(capability, name, scaler):
    policy = resolve_precision("auto", "cuda", capability_of(*capability))
    assert (policy.name, policy.uses_grad_scaler) == (name, scaler)


def test_auto_is_float32_on_the_cpu_unless_asked():
    assert resolve_precision("auto", "cpu").autocast_dtype is None
    assert resolve_precision("bf16", "cpu").autocast_dtype == torch.bfloat16
    assert resolve_precision("fp32", "cuda", capability_of(9, 0)).name == "fp32"


@pytest.mark.parametrize(
    ("requested", "device", "message"),
    [
        ("bf16", "cuda", "compute capability >= 8.0"),
        ("fp16", "cpu", "needs a CUDA"),
        ("fp64", "cpu", "one of"),
    ],
)
def test_unsupported_requests_are_refused(requested, device, message):
    with pytest.raises(ValueError, match=message):
        resolve_precision(requested, device, capability_of(7, 0))


def test_inference_follows_the_checkpoint_where_the_gpu_supports_it():
    assert inference_precision("auto", "bf16", "cuda", capability_of(8, 6)).name == "bf16"
    assert inference_precision("auto", "bf16", "cuda", capability_of(7, 0)).name == "fp32"
    assert inference_precision("auto", "fp16", "cuda", capability_of(7, 0)).name == "fp16"
    assert inference_precision("auto", None, "cuda", capability_of(7, 0)).name == "fp16"
    assert inference_precision("auto", "bf16", "cpu").name == "fp32"
    assert inference_precision("bf16", "fp32", "cpu").name == "bf16"


def tiny_network() -> ConditionalUNet:
    torch.manual_seed(0)
    config = NetworkConfig(widths=(4, 8), blocks_per_scale=1, condition_features=2, embedding_features=8)
    network = ConditionalUNet(config)
    with torch.no_grad():  # a head that is not zero-initialised, so the outputs carry signal
        network.head[1].weight.normal_(0.0, 0.1)
        network.head[1].bias.fill_(0.2)
    return network


def train_losses(policy: PrecisionPolicy, steps: int = 4) -> list[float]:
    network = tiny_network()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    images, condition = (
        torch.randn(2, 3, 16, 16, 16, generator=generator),
        torch.randn(2, 2, generator=generator),
    )
    target = torch.rand(2, 1, 16, 16, 16, generator=generator)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        with policy.autocast():
            prediction = network(images, condition)
        assert prediction.dtype == torch.float32  # the head runs in float32
        loss = torch.nn.functional.huber_loss(prediction.float(), target, delta=0.1)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_bf16_training_steps_agree_with_float32():
    reference, mixed = train_losses(PrecisionPolicy("fp32")), train_losses(PrecisionPolicy("bf16", "cpu"))
    assert reference[-1] < reference[0]  # the steps do something
    for full, low in zip(reference, mixed, strict=True):
        assert low == pytest.approx(full, rel=BF16_RELATIVE_TOLERANCE)


def test_bf16_sliding_window_agrees_with_float32():
    network = tiny_network().eval()
    volume = torch.randn(3, 20, 24, 18, generator=torch.Generator().manual_seed(2))
    condition = torch.tensor([0.3, -0.5])
    outputs = {}
    for name in ("fp32", "bf16"):
        options = SlidingWindowOptions(
            (16, 16, 16), use_mirroring=False, precision=PrecisionPolicy(name, "cpu")
        )
        outputs[name] = sliding_window_inference(network, volume, condition, options)
    scale = outputs["fp32"].abs().max()
    assert scale > 0.05
    assert (outputs["bf16"] - outputs["fp32"]).abs().max() <= BF16_RELATIVE_TOLERANCE * scale
    assert not torch.equal(outputs["bf16"], outputs["fp32"])  # autocast did run in bfloat16
