"""Tiny simulated raw datasets (4 mm) shared by the fingerprint tests, each fingerprinted once."""

from __future__ import annotations

import shutil

import pytest

from gdr_toolkit.fingerprint import extract_fingerprint
from gdr_toolkit.simulation import SimulationSettings, write_simulated_dataset

# Every case has thick-slice LD/SD scans and a 3 T field strength.
ANISOTROPIC_SETTINGS = SimulationSettings.tiny(anisotropic_fraction=1.0, field_strengths_t=(3.0,))
ANISOTROPIC_SEED = 7
ISOTROPIC_SETTINGS = SimulationSettings.tiny()
ISOTROPIC_SEED = 8


@pytest.fixture(scope="session")
def anisotropic_dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("raw") / "Dataset101_Aniso"
    write_simulated_dataset(folder, ANISOTROPIC_SETTINGS, num_training=3, num_test=0, seed=ANISOTROPIC_SEED)
    return folder


@pytest.fixture(scope="session")
def anisotropic_simulation():
    """(settings, seed) that wrote ``anisotropic_dataset``, to re-simulate ground truth."""
    return ANISOTROPIC_SETTINGS, ANISOTROPIC_SEED


@pytest.fixture(scope="session")
def anisotropic_fingerprint(anisotropic_dataset):
    return extract_fingerprint(anisotropic_dataset, num_processes=1)


@pytest.fixture(scope="session")
def dataset_without_metadata(tmp_path_factory):
    """One isotropic case whose metadata folder was removed."""
    folder = tmp_path_factory.mktemp("raw") / "Dataset102_NoMeta"
    write_simulated_dataset(folder, ISOTROPIC_SETTINGS, num_training=1, num_test=0, seed=ISOTROPIC_SEED)
    shutil.rmtree(folder / "metadataTr")
    return folder


@pytest.fixture(scope="session")
def fingerprint_without_metadata(dataset_without_metadata):
    return extract_fingerprint(dataset_without_metadata, num_processes=1)
