"""Condition embeddings, their PCA and t-SNE projections, and ``gdr_plot_embedding`` end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "inference"))  # shared builders of the inference tests
from inference_fixtures import CONFIGURATION, DATASET, tiny_plans, write_model_folder  # noqa: E402

from gdr_toolkit.analysis.embedding import (  # noqa: E402
    condition_embeddings,
    default_perplexity,
    fold_training_case_ids,
    pca_projection,
    project_embeddings,
    read_case_conditions,
    tsne_projection,
)
from gdr_toolkit.cli.plot_embedding import main  # noqa: E402
from gdr_toolkit.inference.model_loader import load_trained_model  # noqa: E402
from gdr_toolkit.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from gdr_toolkit.model.conditions import ConditionNormalisation  # noqa: E402
from gdr_toolkit.network.condition_embedding import ConditionEmbedding  # noqa: E402
from gdr_toolkit.preprocessing import case_storage  # noqa: E402

CASES = {f"case_{index}": (0.1 * (index + 1), 0.02 + 0.01 * index) for index in range(6)}


def test_pca_of_points_on_a_line_recovers_the_direction():
    rng = np.random.default_rng(0)
    direction = rng.standard_normal(16)
    direction /= np.linalg.norm(direction)
    positions = rng.uniform(-3, 3, size=40)
    points = rng.standard_normal(16) + positions[:, None] * direction
    components = pca_projection(points)
    assert components.explained_variance_ratio[0] == pytest.approx(1.0, abs=1e-12)
    assert abs(components.directions[0] @ direction) == pytest.approx(1.0, abs=1e-12)
    centred = positions - positions.mean()
    assert np.abs(components.coordinates[:, 0]) == pytest.approx(np.abs(centred), abs=1e-9)
    assert components.coordinates[:, 1] == pytest.approx(np.zeros(40), abs=1e-9)


def test_pca_of_coinciding_points_is_zero_without_nan():
    components = pca_projection(np.ones((4, 3)))
    assert not components.coordinates.any()
    assert not components.explained_variance_ratio.any()


def test_embeddings_of_identical_conditions_agree_and_of_different_ones_differ():
    torch.manual_seed(0)
    module = ConditionEmbedding(2, 8).train()
    conditions = np.array([[0.5, -1.0], [0.5, -1.0], [1.5, 0.3]], dtype=np.float32)
    embeddings = condition_embeddings(module, conditions)
    assert embeddings.shape == (3, 8)
    assert np.array_equal(embeddings[0], embeddings[1])
    assert not np.allclose(embeddings[0], embeddings[2])
    assert module.training  # the caller's mode is restored


def test_default_perplexity_is_below_the_case_count_and_at_least_one():
    assert default_perplexity(3) == 1.0
    assert default_perplexity(31) == 10.0
    assert default_perplexity(1000) == 30.0


def test_tsne_is_reproducible_for_a_seed_and_rejects_a_perplexity_of_n():
    points = np.random.default_rng(1).standard_normal((8, 5))
    first, second = tsne_projection(points, seed=3), tsne_projection(points, seed=3)
    assert first.shape == (8, 2) and np.isfinite(first).all()
    assert np.array_equal(first, second)
    with pytest.raises(ValueError, match="perplexity must be in"):
        tsne_projection(points, perplexity=8)


def test_fewer_than_three_cases_is_an_error(tmp_path):
    normalisation = write_cases(tmp_path, dict(list(CASES.items())[:2]))
    conditions = read_case_conditions(tmp_path, ["case_0", "case_1"], normalisation)
    with pytest.raises(ValueError, match="at least 3 cases, got 2"):
        project_embeddings(ConditionEmbedding(2, 8), conditions, normalisation.keys)


def write_cases(data_folder: Path, cases: dict[str, tuple[float, float]]) -> ConditionNormalisation:
    """Preprocessed cases (a 1-voxel array and properties; no relaxivity); returns their normalisation."""
    properties = {}
    for case, (dose, sigma) in cases.items():
        properties[case] = {
            "channels": ["z_ld"], "noise_sigma_ld": sigma,
            "condition": {"dose_fraction": dose, "field_strength_t": 1.5 if dose < 0.3 else 3.0},
        }  # fmt: skip
        case_storage.write_case(data_folder, case, np.zeros((1, 1, 1, 1), np.float32), properties[case])
    return ConditionNormalisation.from_training_cases(properties, ("dose_fraction", "noise_sigma_ld"))


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> Path:
    """``results/`` with a conditioned and an unconditioned tiny model, ``preprocessed/`` with 6 cases."""
    root = tmp_path_factory.mktemp("embedding")
    write_model_folder(root / "results" / DATASET, tiny_plans(5.0), folds=(0,))
    unconditioned = tiny_plans(5.0, condition_keys=())
    model = write_model_folder(root / "unconditioned" / DATASET, unconditioned, folds=(0,))
    model.rename(root / "results" / DATASET / f"GDRTrainer_NoCondition__gdrPlans__{CONFIGURATION}")
    write_cases(
        root / "preprocessed" / DATASET / tiny_plans(5.0).configuration(CONFIGURATION).data_identifier, CASES
    )
    return root


@pytest.fixture
def environment(roots, monkeypatch) -> Path:
    monkeypatch.setenv("gdr_results", str(roots / "results"))
    monkeypatch.setenv("gdr_preprocessed", str(roots / "preprocessed"))
    return roots


def test_command_writes_png_and_json_with_one_entry_per_case_into_the_fold_folder(environment):
    assert main(["-d", "77", "-c", CONFIGURATION, "-f", "0", "--seed", "1"]) == 0
    fold_folder = environment / "results" / DATASET / f"GDRTrainer__gdrPlans__{CONFIGURATION}" / "fold_0"
    assert (fold_folder / "embedding.png").read_bytes().startswith(b"\x89PNG")
    record = json.loads((fold_folder / "embedding.json").read_text())
    assert [entry["case_id"] for entry in record["cases"]] == sorted(CASES)
    assert record["condition_keys"] == ["dose_fraction", "noise_sigma_ld"]
    assert record["tsne_perplexity"] == pytest.approx(5 / 3)
    first = record["cases"][0]
    assert len(first["pca"]) == len(first["tsne"]) == 2
    assert first["values"] == {
        "field_strength_t": 1.5, "dose_fraction": 0.1, "relaxivity": None, "noise_sigma_ld": 0.02,
    }  # fmt: skip


def test_command_on_a_model_without_conditions_is_a_clear_error(environment, capsys):
    assert main(["-d", "77", "-c", CONFIGURATION, "-tr", "GDRTrainer_NoCondition"]) == 1
    assert "trained without conditions" in capsys.readouterr().err


def test_training_case_selection_reads_the_fold_of_the_splits(environment):
    splits = [{"train": ["case_0", "case_2", "case_4"], "val": ["case_1"]}]
    dataset_folder = environment / "preprocessed" / DATASET
    (dataset_folder / "splits_final.json").write_text(json.dumps(splits))
    model = load_trained_model(environment / "results" / DATASET / f"GDRTrainer__gdrPlans__{CONFIGURATION}")
    assert fold_training_case_ids(model.folds[0], dataset_folder) == ["case_0", "case_2", "case_4"]


def test_training_case_selection_prefers_the_cases_the_checkpoint_records(tmp_path):
    splits = [{"train": ["case_0", "case_2", "case_4"], "val": ["case_1"]}]
    (tmp_path / "splits_final.json").write_text(json.dumps(splits))
    folder = write_model_folder(tmp_path / "results", tiny_plans(5.0))
    path = folder / "fold_0" / "checkpoint_final.pth"
    checkpoint = load_checkpoint(path)
    checkpoint["train_case_ids"] = ["case_5", "case_1"]
    save_checkpoint(checkpoint, path)
    model = load_trained_model(folder)
    assert fold_training_case_ids(model.folds[0], tmp_path) == ["case_1", "case_5"]
