"""Detection power and false flags of the hallucination guard on synthetic balls (1 mm grid).

A ball of radius R (mm) and amplitude A (in sigma_LD) is predicted; the LD subtraction carries either
nothing (a hallucination: the flagged fraction of its voxels is the detection rate) or d times it (real:
the flagged fraction is the false-flag rate), plus white noise of std sigma_LD. Prints one table per
amplitude, mean over seeds. Run: ``python benchmarks/hallucination_guard_power.py``.
"""

from __future__ import annotations

import numpy as np

from gdr_toolkit.inference.hallucination_guard import unsupported_enhancement

SIGMA = 0.03
SHAPE = (40, 40, 40)
DOSES = (0.1, 0.25, 0.33, 0.5)
RADII_MM = (1.5, 2.0, 3.0, 5.0)


def ball(radius_mm: float, amplitude: float) -> np.ndarray:
    grid = np.indices(SHAPE, dtype=np.float64)
    distance = np.sqrt(sum((axis - 20.0) ** 2 for axis in grid))
    return np.where(distance <= radius_mm, amplitude, 0.0)


def flagged_fraction(prediction: np.ndarray, ld_scale: float, dose: float, seed: int) -> float:
    noise = np.random.default_rng(seed).normal(0.0, SIGMA, SHAPE)
    result = unsupported_enhancement(
        prediction, ld_scale * prediction + noise, np.full(SHAPE, SIGMA), SIGMA, (1.0, 1.0, 1.0), dose
    )
    return float(result.unsupported[result.predicted].mean())


def main(seeds: int = 3) -> None:
    for amplitude in (5.0, 10.0, 20.0):
        print(f"\namplitude {amplitude:g} sigma_LD: detected (hallucinated ball) / false flags (real ball)")
        print("dose  | " + " | ".join(f"R {radius:g} mm" for radius in RADII_MM))
        for dose in DOSES:
            cells = []
            for radius in RADII_MM:
                prediction = ball(radius, amplitude * SIGMA)
                detected = np.mean([flagged_fraction(prediction, 0.0, dose, seed) for seed in range(seeds)])
                false = np.mean([flagged_fraction(prediction, dose, dose, seed) for seed in range(seeds)])
                cells.append(f"{detected:.2f} / {false:.3f}")
            print(f"{dose:<5g} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
