from __future__ import annotations

import pytest
import torch

from gdr_toolkit.network.condition_embedding import ConditionEmbedding


def test_embedding_shape():
    embedding = ConditionEmbedding(4, 16)(torch.randn(3, 4))
    assert embedding.shape == (3, 16)


def test_embedding_depends_on_condition():
    module = ConditionEmbedding(4, 16)
    first, second = module(torch.zeros(1, 4)), module(torch.ones(1, 4))
    assert not torch.allclose(first, second)


def test_no_condition_gives_the_same_learned_embedding_for_every_batch_element():
    module = ConditionEmbedding(0, 16)
    with torch.no_grad():
        module.constant.copy_(torch.arange(16.0))
    embedding = module(torch.zeros(5, 0))
    assert embedding.shape == (5, 16)
    assert torch.equal(embedding, torch.arange(16.0).expand(5, -1))


def test_wrong_condition_length_raises():
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        ConditionEmbedding(4, 16)(torch.zeros(2, 3))


def test_negative_condition_features_raises():
    with pytest.raises(ValueError, match="condition_features"):
        ConditionEmbedding(-1)
