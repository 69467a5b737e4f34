"""The learned condition embedding of a trained network, projected to 2D and plotted (paper Fig. 8).

Each case's normalised condition vector c (documentation/method.md section 3) goes through the network's
``condition_embedding`` MLP to e in R^E (E = 128 in the paper). The embeddings of the cases are projected
to 2D with PCA (exact, linear: distances along the axes are distances in R^E) and t-SNE (non-linear:
neighbourhoods are kept, distances and cluster sizes are not), and each projection is coloured by every
condition value (field strength, dose fraction, relaxivity, noise level sigma_LD). Used by
``gdr_plot_embedding`` (documentation/plot_embedding.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.manifold import TSNE
from torch import nn

from gdr_toolkit.file_io import TEMPORARY_PREFIX, atomic_path
from gdr_toolkit.inference.model_loader import FoldModel
from gdr_toolkit.model.conditions import ConditionNormalisation, raw_condition
from gdr_toolkit.planning.splits import fold_case_ids
from gdr_toolkit.preprocessing import case_storage

logger = logging.getLogger(__name__)
MINIMUM_CASES = 3
EXACT_TSNE_MAX_CASES = 500  # exact t-SNE up to here: for few points faster than Barnes-Hut, no approximation
PANEL_KEYS = ("field_strength_t", "dose_fraction", "relaxivity", "noise_sigma_ld")
PANEL_LABELS = {
    "field_strength_t": "field strength (T)",
    "dose_fraction": "dose fraction",
    "relaxivity": "relaxivity (L/(mmol s))",
    "noise_sigma_ld": r"$\sigma_{LD}$ (normalised units)",
}


@dataclass(frozen=True)
class CaseConditions:
    """The condition values of a set of cases.

    Attributes:
        case_ids: the cases, N of them.
        normalised: float32 ``(N, K)``: the network's input, standardised with the fold's statistics.
        values: float64 ``(N, len(PANEL_KEYS))``: the raw metadata value of every panel key (units in
            ``PANEL_LABELS``), NaN where a case's properties do not hold it.
    """

    case_ids: tuple[str, ...]
    normalised: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class PrincipalComponents:
    """The leading principal components of a point set.

    Attributes:
        coordinates: float64 ``(N, k)``: the centred points projected on the components.
        directions: float64 ``(k, E)``: unit vectors, each with its largest-magnitude entry positive.
        explained_variance_ratio: float64 ``(k,)``: share of the total variance (0 for no variance).
    """

    coordinates: np.ndarray
    directions: np.ndarray
    explained_variance_ratio: np.ndarray


@dataclass(frozen=True)
class EmbeddingProjection:
    """Embeddings of the cases and their 2D projections.

    Attributes:
        conditions: the cases and their condition values.
        condition_keys: the keys the network was conditioned on (in its input order).
        embeddings: float64 ``(N, E)``.
        pca: the first two principal components of ``embeddings``.
        tsne: float64 ``(N, 2)`` t-SNE coordinates.
        perplexity: the t-SNE perplexity used.
        seed: the t-SNE random state.
    """

    conditions: CaseConditions
    condition_keys: tuple[str, ...]
    embeddings: np.ndarray
    pca: PrincipalComponents
    tsne: np.ndarray
    perplexity: float
    seed: int


def preprocessed_case_ids(data_folder: Path) -> list[str]:
    """Sorted ids of the complete cases (``CASE.b2nd`` and ``CASE.json``) of a preprocessed folder.

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    if not Path(data_folder).is_dir():
        raise FileNotFoundError(
            f"preprocessed folder {data_folder} does not exist; the embedding plot reads the cases' "
            "condition values from it (run gdr_preprocess for this configuration)"
        )
    suffix = case_storage.ARRAY_SUFFIX
    names = [path.name[: -len(suffix)] for path in Path(data_folder).glob(f"*{suffix}")]
    return sorted(
        name
        for name in names
        if not name.startswith(TEMPORARY_PREFIX) and case_storage.is_case_complete(data_folder, name)
    )


def fold_training_case_ids(fold_model: FoldModel, preprocessed_dataset_folder: Path) -> list[str]:
    """The fold's training cases: those its checkpoint records, else its fold of ``splits_final.json``.

    Raises:
        ValueError: the fold is not in the splits.
        FileNotFoundError: the checkpoint records no cases and ``splits_final.json`` is missing.
    """
    if fold_model.train_case_ids is not None:
        return sorted(fold_model.train_case_ids)
    return fold_case_ids(preprocessed_dataset_folder, fold_model.fold, validation_cases_fold_all=0)[0]


def read_case_conditions(
    data_folder: Path, case_ids: Sequence[str], normalisation: ConditionNormalisation
) -> CaseConditions:
    """Condition vectors and metadata values of ``case_ids`` from their preprocessing properties.

    The normalised vectors are built exactly as the trainer builds ``case_conditions``.

    Raises:
        FileNotFoundError: a case's ``CASE.json`` is missing.
        ValueError: a case lacks a key the model is conditioned on.
    """
    normalised, values = [], []
    for case in case_ids:
        properties = case_storage.load_case_properties(data_folder, case)
        normalised.append(normalisation.case_vector(properties, case))
        values.append([_metadata_value(properties, key, case) for key in PANEL_KEYS])
    count, features = len(case_ids), len(normalisation.keys)
    return CaseConditions(
        tuple(case_ids),
        np.asarray(normalised, dtype=np.float32).reshape(count, features),
        np.asarray(values, dtype=np.float64).reshape(count, len(PANEL_KEYS)),
    )


def _metadata_value(properties: Mapping[str, Any], key: str, case: str) -> float:
    """The raw value of ``key`` in a case's properties, NaN when absent or not a finite number."""
    try:
        return float(raw_condition(properties, (key,), case)[0])
    except ValueError:
        return float("nan")


def conditioned_embedding_module(fold_model: FoldModel) -> nn.Module:
    """The ``condition_embedding`` module of a fold's network, checked to depend on conditions.

    Raises:
        ValueError: the model was trained without conditions (e.g. ``GDRTrainer_NoCondition``: its
            embedding is one constant vector) or its network has no ``condition_embedding``.
    """
    keys = fold_model.condition_normalisation.keys
    if not keys:
        raise ValueError(
            f"{fold_model.checkpoint}: the model was trained without conditions (condition_keys is empty, "
            "e.g. GDRTrainer_NoCondition), so its condition embedding is one constant vector and there is "
            "nothing to plot; choose a conditioned trainer with -tr"
        )
    module = getattr(fold_model.network, "condition_embedding", None)
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"{fold_model.checkpoint}: the network ({type(fold_model.network).__name__}) has no "
            "condition_embedding module to evaluate"
        )
    return module


def condition_embeddings(embedding_module: nn.Module, normalised_conditions: np.ndarray) -> np.ndarray:
    """Evaluate the embedding MLP on a batch of condition vectors (eval mode, no gradient).

    Args:
        embedding_module: maps ``(B, K)`` to ``(B, E)`` (e.g. ``ConditionEmbedding``); its training mode is
            restored afterwards.
        normalised_conditions: float ``(N, K)``, normalised as the network saw them in training.

    Returns:
        float64 ``(N, E)``.
    """
    conditions = np.asarray(normalised_conditions)
    if conditions.ndim != 2:
        raise ValueError(f"normalised_conditions must be (N, K), got shape {conditions.shape}")
    parameter = next(embedding_module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    was_training = embedding_module.training
    embedding_module.eval()
    try:
        with torch.no_grad():
            embedded = embedding_module(torch.as_tensor(conditions, dtype=dtype, device=device))
    finally:
        embedding_module.train(was_training)
    return embedded.detach().to("cpu", torch.float64).numpy()


def pca_projection(points: np.ndarray, components: int = 2) -> PrincipalComponents:
    """Principal components by SVD of the centred points.

    With ``X - mean = U S V^T``: directions are the rows of ``V^T``, coordinates ``U S`` and the explained
    variance ratio ``S_i^2 / sum_j S_j^2``. Components beyond the rank of the data are zero.

    Args:
        points: float ``(N, E)``, N >= 1.
        components: k >= 1.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 1:
        raise ValueError(f"points must be (N, E) with N >= 1, got shape {points.shape}")
    if components < 1:
        raise ValueError(f"components must be >= 1, got {components}")
    centred = points - points.mean(axis=0)
    with np.errstate(all="raise", under="ignore"):
        _, singular_values, directions = np.linalg.svd(centred, full_matrices=False)
        signs = np.sign(directions[np.arange(len(directions)), np.abs(directions).argmax(axis=1)])
        directions = directions * np.where(signs == 0, 1.0, signs)[:, None]
        variance = singular_values**2
        total = variance.sum()
        ratio = variance / total if total > 0 else np.zeros_like(variance)
    kept = min(components, len(singular_values))
    coordinates = np.zeros((points.shape[0], components))
    coordinates[:, :kept] = centred @ directions[:kept].T
    padded_directions = np.zeros((components, points.shape[1]))
    padded_directions[:kept] = directions[:kept]
    padded_ratio = np.zeros(components)
    padded_ratio[:kept] = ratio[:kept]
    return PrincipalComponents(coordinates, padded_directions, padded_ratio)


def default_perplexity(case_count: int) -> float:
    """``min(30, (N - 1) / 3)``, at least 1 (t-SNE needs perplexity < N)."""
    return max(1.0, min(30.0, (case_count - 1) / 3))


def tsne_projection(points: np.ndarray, perplexity: float | None = None, seed: int = 0) -> np.ndarray:
    """2D t-SNE (``sklearn.manifold.TSNE``, PCA initialisation) of the points, reproducible for a seed.

    The exact gradient is used up to ``EXACT_TSNE_MAX_CASES`` points (for few points it is faster than the
    Barnes-Hut approximation and has no approximation error), Barnes-Hut above.

    Args:
        points: float ``(N, E)``, N >= 3.
        perplexity: effective number of neighbours, in (0, N); None: :func:`default_perplexity`.
        seed: random state of the optimisation.

    Returns:
        float64 ``(N, 2)``; all zeros when all points coincide (t-SNE is undefined there).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < MINIMUM_CASES:
        raise ValueError(f"t-SNE needs (N, E) points with N >= {MINIMUM_CASES}, got shape {points.shape}")
    count = points.shape[0]
    perplexity = default_perplexity(count) if perplexity is None else float(perplexity)
    if not 0 < perplexity < count:
        raise ValueError(f"perplexity must be in (0, {count}) for {count} points, got {perplexity}")
    if np.ptp(points, axis=0).max() == 0:
        logger.warning("all %d embeddings coincide; t-SNE coordinates set to 0", count)
        return np.zeros((count, 2))
    method = "exact" if count <= EXACT_TSNE_MAX_CASES else "barnes_hut"
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        method=method,
        random_state=seed,
    )
    return np.asarray(tsne.fit_transform(points), dtype=np.float64)


def project_embeddings(
    embedding_module: nn.Module,
    conditions: CaseConditions,
    condition_keys: Sequence[str],
    perplexity: float | None = None,
    seed: int = 0,
) -> EmbeddingProjection:
    """Embed every case's condition vector and project the embeddings with PCA and t-SNE.

    Raises:
        ValueError: fewer than ``MINIMUM_CASES`` cases, or a bad perplexity.
    """
    count = len(conditions.case_ids)
    if count < MINIMUM_CASES:
        raise ValueError(
            f"the embedding plot needs at least {MINIMUM_CASES} cases, got {count} "
            f"({', '.join(conditions.case_ids) or 'none'}); select or preprocess more cases"
        )
    embeddings = condition_embeddings(embedding_module, conditions.normalised)
    perplexity = default_perplexity(count) if perplexity is None else perplexity
    return EmbeddingProjection(
        conditions=conditions,
        condition_keys=tuple(condition_keys),
        embeddings=embeddings,
        pca=pca_projection(embeddings),
        tsne=tsne_projection(embeddings, perplexity, seed),
        perplexity=float(perplexity),
        seed=seed,
    )


def plot_embedding(projection: EmbeddingProjection, title: str, path: Path) -> None:
    """Write a PNG (Agg, no pyplot state): rows PCA and t-SNE, one column per ``PANEL_KEYS`` entry.

    Points are coloured by the column's value. Keys the model was not conditioned on are coloured by their metadata value where the properties hold
    it (the column header says so); a key no case holds leaves grey points and a note.
    """
    ratio = projection.pca.explained_variance_ratio
    rows = {
        f"PCA (PC1 {100 * ratio[0]:.1f}%, PC2 {100 * ratio[1]:.1f}% of variance)": projection.pca.coordinates,
        f"t-SNE (perplexity {projection.perplexity:.3g}, seed {projection.seed})": projection.tsne,
    }
    figure = Figure(figsize=(4.2 * len(PANEL_KEYS), 3.8 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), len(PANEL_KEYS), squeeze=False)
    for row, (row_label, coordinates) in enumerate(rows.items()):
        for column, key in enumerate(PANEL_KEYS):
            axis = axes[row, column]
            _scatter_panel(figure, axis, coordinates, projection.conditions.values[:, column], key)
            role = "model input" if key in projection.condition_keys else "metadata only, not a model input"
            axis.set_title(f"{PANEL_LABELS[key]}\n[{role}]" if row == 0 else PANEL_LABELS[key], fontsize=9)
            axis.set_ylabel(row_label if column == 0 else "", fontsize=9)
    figure.suptitle(title, fontsize=10)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110)


def _scatter_panel(figure: Figure, axis: Any, coordinates: np.ndarray, values: np.ndarray, key: str) -> None:
    """One panel: grey points where ``values`` is NaN, coloured points with a colour bar elsewhere."""
    known = np.isfinite(values)
    axis.scatter(*coordinates[~known].T, s=14, c="lightgrey", edgecolors="none")
    if known.any():
        points = axis.scatter(*coordinates[known].T, s=14, c=values[known], cmap="viridis", edgecolors="none")
        figure.colorbar(points, ax=axis, shrink=0.85)
    else:
        axis.text(0.5, 0.5, f"no {key} in the case properties", transform=axis.transAxes,
                  ha="center", va="center", fontsize=8, color="dimgrey")  # fmt: skip
    axis.tick_params(labelsize=7)


def projection_record(projection: EmbeddingProjection, description: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready record: ``description``, the projection settings and one entry per case."""

    def number(value: float) -> float | None:
        return float(value) if np.isfinite(value) else None

    cases = [
        {
            "case_id": case,
            "pca": [float(v) for v in projection.pca.coordinates[index]],
            "tsne": [float(v) for v in projection.tsne[index]],
            "values": {
                key: number(projection.conditions.values[index, k]) for k, key in enumerate(PANEL_KEYS)
            },
            "normalised_condition": [float(v) for v in projection.conditions.normalised[index]],
        }
        for index, case in enumerate(projection.conditions.case_ids)
    ]
    return {
        **description,
        "condition_keys": list(projection.condition_keys),
        "embedding_features": int(projection.embeddings.shape[1]),
        "pca_explained_variance_ratio": [float(v) for v in projection.pca.explained_variance_ratio],
        "tsne_perplexity": projection.perplexity,
        "tsne_seed": projection.seed,
        "cases": cases,
    }
