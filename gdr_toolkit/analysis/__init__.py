"""Analysis of trained models: the learned condition embedding projected to 2D (paper Fig. 8,
documentation/plot_embedding.md)."""

from gdr_toolkit.analysis.embedding import (
    CaseConditions,
    EmbeddingProjection,
    PrincipalComponents,
    condition_embeddings,
    pca_projection,
    plot_embedding,
    project_embeddings,
    tsne_projection,
)

__all__ = [
    "CaseConditions",
    "EmbeddingProjection",
    "PrincipalComponents",
    "condition_embeddings",
    "pca_projection",
    "plot_embedding",
    "project_embeddings",
    "tsne_projection",
]
