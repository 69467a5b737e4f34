"""benchmarks/learning_rate_schedules.py: warm-up, cosine and polynomial decay against their formulas."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "learning_rate_schedules.py"
_specification = importlib.util.spec_from_file_location("learning_rate_schedules", SCRIPT)
_module = importlib.util.module_from_spec(_specification)
sys.modules["learning_rate_schedules"] = _module
_specification.loader.exec_module(_module)
learning_rate_factor = _module.learning_rate_factor


def test_warmup_rises_linearly_to_the_peak():
    factors = [learning_rate_factor(i, 100, warmup=10) for i in range(12)]
    assert factors[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert factors[10] == pytest.approx(1.0)


def test_cosine_reaches_half_way_and_the_final_ratio():
    assert learning_rate_factor(0, 100, final_ratio=0.01) == pytest.approx(1.0)
    assert learning_rate_factor(50, 100, final_ratio=0.01) == pytest.approx(0.01 + 0.99 * 0.5)
    assert learning_rate_factor(100, 100, final_ratio=0.01) == pytest.approx(0.01)
    assert learning_rate_factor(500, 100, final_ratio=0.01) == pytest.approx(0.01)  # stays at the end


def test_poly_follows_the_exponent():
    # 20 warm-up iterations, then 60 of decay: iteration 50 is half-way
    assert learning_rate_factor(50, 80, warmup=20, schedule="poly") == pytest.approx(0.5**0.9)
    value = learning_rate_factor(35, 80, warmup=20, schedule="poly", final_ratio=0.1)
    assert value == pytest.approx(0.1 + 0.9 * 0.75**0.9)


def test_without_warmup_cosine_equals_torchs_cosine_annealing():
    peak, final, total = 1e-3, 1e-6, 40
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=final)
    for iteration in range(total):
        expected = optimizer.param_groups[0]["lr"]
        assert peak * learning_rate_factor(iteration, total, final_ratio=final / peak) == pytest.approx(
            expected
        )
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize(
    "arguments", [{"schedule": "step"}, {"total": 0}, {"warmup": -1}, {"final_ratio": 1.5}]
)
def test_bad_arguments_are_refused(arguments):
    values = {"iteration": 0, "total": 10, **arguments}
    with pytest.raises(ValueError):
        learning_rate_factor(**values)


def test_cosine_midpoint_formula():
    assert learning_rate_factor(25, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
