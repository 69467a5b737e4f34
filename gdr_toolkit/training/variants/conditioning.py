"""Ablation of the condition input."""

from __future__ import annotations

from gdr_toolkit.training.trainer import GDRTrainer


class GDRTrainer_NoCondition(GDRTrainer):
    """No condition vector: the network has ``condition_features = 0`` and ignores the metadata."""

    @property
    def condition_keys(self) -> tuple[str, ...]:
        return ()
