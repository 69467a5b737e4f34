"""False regions and detection power of the hallucination guard on simulated cases, per region.

Each case (``gdr_toolkit.simulation.guard_scenarios``) holds real lesions that the prediction gets right
(radii 1-15 mm on the 2 mm grid, 1-7.5 mm on the 1 mm grid, SD amplitude 5-30 sigma, LD = d x SD: the
lower bound of the signal model) and hallucinated balls (predicted, absent from LD) of radii 2/3/5/8 mm at
10 sigma (sigma: the noise std of the LD subtraction). The guard runs as the predictor runs it
(``guard_case`` on the preprocessed case, eq. 1 on). Scenarios:

    white         white noise, no misregistration, no offset, full field of view
    realistic     LD misregistered by 0.5 voxel (linear interpolation: its noise is correlated too),
                  slow LD/PC offset of 0.5 sigma
    correlated    realistic + each scan's noise smoothed by a Gaussian of 0.5 voxel (lag-1 ~0.3)
    stripped      realistic + skull-stripped (zero background, brain mask 3 voxels too large)
    cropped       realistic + LD covering 70 % of the z axis
    stripped+cropped

Prints per scenario, grid and dose: false regions per case (flagged regions touching no hallucination),
the cases with any false region, and per hallucination radius the share flagged / the share judged.
Run: ``python benchmarks/hallucination_guard_power.py [--cases 20]`` (about 1 s per 64^3 case).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from gdr_toolkit.inference.case_guard import guard_case
from gdr_toolkit.simulation.guard_scenarios import GuardScenario, score_guard, simulate_guard_case

DOSES = (0.1, 0.25, 0.33)
HALLUCINATION_RADII_MM = (2.0, 3.0, 5.0, 8.0)
REALISTIC = {"correlated_noise_voxels": 0.0, "misregistration_voxels": 0.5, "offset_sigmas": 0.5}
SCENARIOS = {
    "white": {"correlated_noise_voxels": 0.0, "misregistration_voxels": 0.0, "offset_sigmas": 0.0},
    "realistic": REALISTIC,
    "correlated": {**REALISTIC, "correlated_noise_voxels": 0.5},
    "stripped": {**REALISTIC, "skull_stripped": True},
    "cropped": {**REALISTIC, "cropped": True},
    "stripped+cropped": {**REALISTIC, "skull_stripped": True, "cropped": True},
}
GRIDS = {
    "2 mm, 64^3": GuardScenario(shape=(64, 64, 64), spacing_mm=2.0, real_radii_mm=(1.0, 2.0, 4.0, 7.5, 15.0)),
    "1 mm, 64^3": GuardScenario(shape=(64, 64, 64), spacing_mm=1.0, real_radii_mm=(1.0, 2.0, 4.0, 7.5)),
}


def run(scenario: GuardScenario, cases: int) -> dict[str, object]:
    """Per-region rates over ``cases`` seeds of ``scenario`` with the hallucinations inserted."""
    scenario = replace(scenario, hallucination_radii_mm=HALLUCINATION_RADII_MM)
    false_regions, flagged, judged = (
        [],
        np.zeros(len(HALLUCINATION_RADII_MM)),
        np.zeros(len(HALLUCINATION_RADII_MM)),
    )
    for seed in range(cases):
        simulated = simulate_guard_case(scenario, seed)
        states = guard_case(simulated.case, simulated.prediction, 1.0, f"seed {seed}").states
        false_regions.append(score_guard(states, simulated).false_regions)
        flagged += [bool((states[mask] == 2).any()) for mask in simulated.hallucinations]
        judged += [bool((states[mask] > 0).any()) for mask in simulated.hallucinations]
    return {"false": np.array(false_regions), "flagged": flagged / cases, "judged": judged / cases}


def main(cases: int = 20) -> None:
    header = " | ".join(f"R {radius:g} mm" for radius in HALLUCINATION_RADII_MM)
    for grid_name, grid in GRIDS.items():
        print(
            f"\n{grid_name}: false regions per case (cases with any) | hallucinations at 10 sigma: flagged / judged"
        )
        print(f"scenario | dose | false regions | {header}")
        for name, settings in SCENARIOS.items():
            for dose in DOSES:
                start = time.perf_counter()
                result = run(replace(grid, dose=dose, **settings), cases)
                false = result["false"]
                cells = [
                    f"{f:.2f} / {j:.2f}" for f, j in zip(result["flagged"], result["judged"], strict=True)
                ]  # type: ignore[call-overload]
                print(
                    f"{name} | {dose:g} | {false.mean():.2f} ({int((false > 0).sum())}/{cases}) | "  # type: ignore[union-attr]
                    + " | ".join(cells)
                    + f"   [{(time.perf_counter() - start) / cases:.2f} s/case]"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20, help="seeds per scenario and dose (20)")
    main(parser.parse_args().cases)
