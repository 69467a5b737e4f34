"""Learning-rate schedules of the lever experiments (``convergence_levers.py``) as pure functions of the
iteration (stepped once per training iteration). The core trainer uses torch's cosine annealing.

``learning_rate_factor`` gives the multiplier of the peak learning rate: an optional linear warm-up over
the first ``warmup`` iterations (from 1/warmup to 1), then a decay over the remaining iterations to
``final_ratio`` (final / peak learning rate):

- ``cosine``: final + (1 - final) * (1 + cos(pi * p)) / 2, p the fraction of the decay done (the paper's
  cosine annealing to 1e-6 when warmup = 0);
- ``poly``: final + (1 - final) * (1 - p) ** 0.9 (nnU-Net's polynomial decay, ending at ``final_ratio``).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

Schedule = Literal["cosine", "poly"]
POLY_EXPONENT = 0.9


def learning_rate_factor(
    iteration: int, total: int, warmup: int = 0, schedule: Schedule = "cosine", final_ratio: float = 0.0
) -> float:
    """Multiplier of the peak learning rate at ``iteration`` (0-based) of a ``total``-iteration run.

    Raises:
        ValueError: an unknown schedule, ``total`` < 1, ``warmup`` < 0 or ``final_ratio`` outside [0, 1].
    """
    if schedule not in get_args(Schedule):
        raise ValueError(f"schedule must be one of {get_args(Schedule)}, got {schedule!r}")
    if total < 1 or warmup < 0 or not 0.0 <= final_ratio <= 1.0:
        raise ValueError(
            f"need total >= 1, warmup >= 0, 0 <= final_ratio <= 1; got {total}, {warmup}, {final_ratio}"
        )
    if iteration < warmup:
        return (iteration + 1) / warmup
    decay_length = max(1, total - warmup)
    progress = min(1.0, max(0.0, (iteration - warmup) / decay_length))
    if schedule == "cosine":
        remaining = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        remaining = (1.0 - progress) ** POLY_EXPONENT
    return final_ratio + (1.0 - final_ratio) * remaining
