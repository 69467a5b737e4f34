"""Embedding of the condition vector c (dose, field strength, relaxivity, noise level) into e in R^E."""

from __future__ import annotations

import torch
from torch import nn


class ConditionEmbedding(nn.Module):
    """Two fully connected layers with SiLU that map the condition vector c to the embedding e.

    ``e = Linear(SiLU(Linear(c)))`` (paper, section "Conditioning"; documentation/method.md section 3). With
    ``condition_features == 0`` (the ``NoCondition`` ablation) there is nothing to embed: the module holds
    one learned vector, initialised to zeros, and returns it for every batch element. A constant embedding
    acts as a learned per-channel bias in every conditional residual block, so the ablation keeps the
    same parameter layout downstream and differs only in what the embedding can depend on.

    Args:
        condition_features: K, the length of the condition vector (>= 0).
        embedding_features: E, the length of the embedding (paper: 128).
    """

    def __init__(self, condition_features: int, embedding_features: int = 128) -> None:
        super().__init__()
        if condition_features < 0:
            raise ValueError(f"condition_features must be >= 0, got {condition_features}")
        if embedding_features < 1:
            raise ValueError(f"embedding_features must be >= 1, got {embedding_features}")
        self.condition_features = condition_features
        self.embedding_features = embedding_features
        self.constant: nn.Parameter | None
        self.layers: nn.Sequential | None
        if condition_features == 0:
            self.constant = nn.Parameter(torch.zeros(embedding_features))
            self.layers = None
        else:
            self.constant = None
            self.layers = nn.Sequential(
                nn.Linear(condition_features, embedding_features),
                nn.SiLU(),
                nn.Linear(embedding_features, embedding_features),
            )

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        """Embed a batch of condition vectors.

        Args:
            condition: float tensor ``(B, K)``; with K == 0 a ``(B, 0)`` tensor that only carries B.

        Returns:
            Embedding, float tensor ``(B, E)``.
        """
        if condition.ndim != 2 or condition.shape[1] != self.condition_features:
            raise ValueError(
                f"condition must have shape (B, {self.condition_features}), got {tuple(condition.shape)}"
            )
        if self.constant is not None:
            return self.constant.expand(condition.shape[0], -1)
        assert self.layers is not None  # exactly one of constant and layers is set
        return self.layers(condition)
