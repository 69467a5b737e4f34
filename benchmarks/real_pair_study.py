"""A real PC/SD pair through synthetic low dose and a trained model: how the model does on real anatomy.

For each dose the pair's low dose is synthesised (``gdr_toolkit.simulation.low_dose_dataset.synthesise_case``,
documentation/synthetic_low_dose.md) and predicted with the model (the library predictor, as gdr_predict
does). Printed and written to ``OUT/real_pair_study.md`` (and ``.json``): for x_LD, the synthesised SD and
SD+, PSNR in the brain, c_bar over enhancing structures (median over structures), voxel-pooled contrast
recovery, the median signal in the brain outside the structures in units of sigma_LD, and the volume
outside the brain with signal > 4 sigma_LD; plus the case's sigma_LD on the network grid against the
model's training cases (mean and std of the fold's condition normalisation, where sigma_LD is a condition).
The metrics and the definition of "enhancing structures" are in
``gdr_toolkit/evaluation/real_pair_metrics.py``. One PNG per dose (axial slice through the largest
structure: PC, LD, SD, synthesised SD, SD+, predicted signal).

Usage:
    python benchmarks/real_pair_study.py --model MODEL_FOLDER --pc PC.nii.gz --sd SD.nii.gz
        --doses 0.1 0.33 -o OUT [--device cpu] [--folds 0] [--checkpoint checkpoint_final.pth] [--seed 0]
        [--field_strength T --agent NAME]
        [--mirroring]
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from gdr_toolkit.dataset.image_io import read_image
from gdr_toolkit.dataset.metadata import CaseMetadata
from gdr_toolkit.evaluation.real_pair_metrics import enhancing_structures, image_metrics, low_dose_sigma
from gdr_toolkit.file_io import write_json_atomic
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.predictor import CasePrediction, Predictor
from gdr_toolkit.preprocessing.noise import estimate_noise_sigma
from gdr_toolkit.simulation.low_dose_dataset import synthesise_case

logger = logging.getLogger("real_pair_study")
ROWS = ("x_LD", "synthesised SD", "SD+")
COLUMNS = (
    ("psnr_brain_db", "PSNR_B (dB)"),
    ("c_bar_median", "c_bar (median over structures)"),
    ("pooled_recovery", "pooled recovery"),
    ("median_signal_outside_sigma", "median signal outside structures (sigma)"),
    ("outside_brain_ml", "outside brain > 4 sigma (ml)"),
)


def training_sigma(predictor: Predictor) -> dict[str, float] | None:
    """Mean and std of sigma_LD over the first fold's training cases, where it is a condition key."""
    normalisation = predictor.model.folds[0].condition_normalisation
    if "noise_sigma_ld" not in normalisation.keys:
        return None
    index = normalisation.keys.index("noise_sigma_ld")
    return {"mean": normalisation.mean[index], "std": normalisation.std[index]}


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image).astype(np.float64)


def dose_rows(prediction: CasePrediction, low_dose: np.ndarray, arrays: dict[str, Any], voxel_ml: float):
    """{row: metrics} and sigma_LD of one dose."""
    pre, reference, brain = arrays["pre_contrast"], arrays["reference"], arrays["brain"]
    sigma = low_dose_sigma(low_dose, pre, brain)
    images = {"x_LD": low_dose, "synthesised SD": _array(prediction.sd)}
    if prediction.sdplus is not None:
        images["SD+"] = _array(prediction.sdplus)
    rows = {
        name: image_metrics(
            image, pre, reference, brain, arrays["structures"], sigma, voxel_ml
        ).to_json_dict()
        for name, image in images.items()
    }
    return rows, sigma


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Real pair study: {results['pair']}", "", f"Model: `{results['model']}`; "
             f"{results['structures']} enhancing structures ({results['structure_ml']:.1f} ml); training sigma_LD: "
             f"{results['training_sigma_ld'] or 'not a condition of this model'}", ""]  # fmt: skip
    for dose, record in results["doses"].items():
        lines += [f"## dose {dose}", "", f"sigma_LD (PC frame) {record['sigma_ld']:.4g}; on the network grid "
                  f"{record['network_sigma_ld']}", "", "| image | " + " | ".join(title for _, title in COLUMNS) + " |",
                  "|---" * (len(COLUMNS) + 1) + "|"]  # fmt: skip
        for row, values in record["rows"].items():
            lines.append(f"| {row} | " + " | ".join(f"{values[key]:.3g}" for key, _ in COLUMNS) + " |")
        findings = record.get("out_of_distribution")
        lines += ["", "Out-of-distribution check: " + ("; ".join(findings) if findings else
                  "not checked" if findings is None else "every quantity within the training ranges"), ""]  # fmt: skip
    return "\n".join(lines)


def picture(path: Path, arrays: dict[str, Any], low_dose: np.ndarray, prediction: CasePrediction) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    structures = arrays["structures"]
    target = structures == 1 if structures.max() > 0 else arrays["brain"]
    axial = int(np.round(np.mean(np.nonzero(target)[0])))
    panels = {
        "PC": arrays["pre_contrast"],
        "LD": low_dose,
        "SD": arrays["reference"],
        "synth SD": _array(prediction.sd),
    }
    if prediction.sdplus is not None:
        panels["SD+"] = _array(prediction.sdplus)
    panels["predicted signal"] = _array(prediction.contrast_signal)
    top = float(np.percentile(arrays["reference"][arrays["brain"]], 99.5))
    figure, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3))
    for axis, (title, image) in zip(axes, panels.items(), strict=True):
        limit = top if title != "predicted signal" else max(float(image[axial].max()), 1e-6)
        axis.imshow(image[axial], cmap="gray", vmin=0, vmax=limit, origin="lower")
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run(args: argparse.Namespace) -> dict[str, Any]:
    predictor = Predictor(  # loaded first: a wrong model folder fails before the slow synthesis
        load_trained_model(args.model, args.folds, args.checkpoint), args.device, use_mirroring=args.mirroring
    )
    pre_contrast, standard_dose = read_image(args.pc), read_image(args.sd)
    synthesised = synthesise_case(pre_contrast, standard_dose, args.doses, np.random.default_rng(args.seed))
    assert synthesised.standard_dose_in_frame is not None and synthesised.brain_mask is not None
    brain = _array(synthesised.brain_mask) > 0
    pre = _array(pre_contrast)
    reference = _array(synthesised.standard_dose_in_frame)
    sigma_sd = estimate_noise_sigma((reference - pre).astype(np.float32), brain)
    arrays = {"pre_contrast": pre, "reference": reference, "brain": brain}
    arrays["structures"] = enhancing_structures(reference - pre, brain, sigma_sd)
    voxel_ml = float(np.prod(pre_contrast.GetSpacing())) / 1000.0
    results: dict[str, Any] = {
        "pair": f"{Path(args.pc).name} / {Path(args.sd).name}", "model": str(args.model),
        "structures": int(arrays["structures"].max()), "structure_ml": float((arrays["structures"] > 0).sum() * voxel_ml),
        "training_sigma_ld": training_sigma(predictor),
        "assumed_metadata": {"field_strength_t": args.field_strength, "contrast_agent": args.agent}, "synthesis": synthesised.record, "doses": {},
    }  # fmt: skip
    Path(args.output).mkdir(parents=True, exist_ok=True)
    for dose, image in synthesised.low_doses.items():
        metadata = CaseMetadata(args.field_strength, dose, args.agent)
        prediction = predictor.predict_case(
            pre_contrast, image, metadata, f"real_pair_d{round(dose * 100):03d}"
        )
        rows, sigma = dose_rows(prediction, _array(image), arrays, voxel_ml)
        network_sigma = prediction.summary.get("noise_sigma_ld", math.nan)
        results["doses"][f"{dose:g}"] = {
            "rows": rows, "sigma_ld": sigma, "network_sigma_ld": network_sigma,
            "out_of_distribution": [f.message for f in prediction.distribution.findings]
            if prediction.distribution is not None
            else None,
        }  # fmt: skip
        picture(
            Path(args.output) / f"real_pair_d{round(dose * 100):03d}.png", arrays, _array(image), prediction
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model folder <Trainer>__<plans>__<configuration>")
    parser.add_argument("--pc", required=True)
    parser.add_argument("--sd", required=True)
    parser.add_argument("--doses", type=float, nargs="+", default=[0.1, 0.33])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folds", nargs="+", default=None, help="fold indices (default: all)")
    parser.add_argument(
        "--field_strength",
        type=float,
        default=None,
        help="assumed field strength (T), for a model that needs it",
    )
    parser.add_argument("--agent", default=None, help="assumed contrast agent, for a model that needs it")
    parser.add_argument("--checkpoint", default="checkpoint_final.pth", help="checkpoint file of each fold")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirroring", action="store_true", help="test-time mirroring (8x slower)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    results = run(args)
    write_json_atomic(results, Path(args.output) / "real_pair_study.json")
    text = markdown(results)
    (Path(args.output) / "real_pair_study.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
