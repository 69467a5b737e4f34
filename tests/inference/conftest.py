"""Session fixtures of the inference tests: model folders written directly and one preprocessed case."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_fixtures import simulated_pair, tiny_plans, write_model_folder

from gdr_toolkit.dataset.metadata import parse_case_metadata
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.inference.predictor import Predictor


@pytest.fixture(scope="session")
def models_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def two_fold_model_folder(models_root) -> Path:
    """Random tiny network, 5 mm plan (inputs are resampled), folds 0 and 1 with different gamma."""
    return write_model_folder(models_root / "two_folds", tiny_plans(5.0), folds=(0, 1))


@pytest.fixture(scope="session")
def zero_model_folder(models_root) -> Path:
    """A network whose last convolution is zero: it predicts exactly 0."""
    return write_model_folder(models_root / "zero", tiny_plans(5.0), zero_output=True)


@pytest.fixture(scope="session")
def identity_case():
    """(PC, LD, metadata) of a simulated 4 mm case stored with identity direction."""
    pre_contrast, low_dose, record = simulated_pair(seed=5)
    return pre_contrast, low_dose, parse_case_metadata(record)


@pytest.fixture(scope="session")
def preprocessed_identity_case(identity_case, two_fold_model_folder):
    """The identity case preprocessed with the tiny plan's options (shared: preprocessing is the slow part)."""
    pre_contrast, low_dose, metadata = identity_case
    predictor = Predictor(load_trained_model(two_fold_model_folder), use_mirroring=False)
    return predictor.preprocess(pre_contrast, low_dose, metadata)
