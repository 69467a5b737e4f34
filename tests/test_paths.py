from __future__ import annotations

import pytest

from gdr_toolkit import paths


def test_unset_variable_error_names_the_variable(monkeypatch):
    monkeypatch.delenv("gdr_raw", raising=False)
    with pytest.raises(OSError, match="gdr_raw"):
        paths.raw_folder()


def test_variables_are_read_lazily(monkeypatch, tmp_path):
    monkeypatch.setenv("gdr_results", str(tmp_path))
    assert paths.results_folder() == tmp_path
    monkeypatch.setenv("gdr_results", str(tmp_path / "other"))
    assert paths.results_folder() == tmp_path / "other"


@pytest.mark.parametrize("identifier", [1, "1", "001", "Dataset001_Phantom"])
def test_resolve_dataset_from_id_or_name(tmp_path, identifier):
    (tmp_path / "Dataset001_Phantom").mkdir()
    (tmp_path / "Dataset002_Other").mkdir()
    assert paths.resolve_dataset_name(identifier, [tmp_path]) == "Dataset001_Phantom"


def test_resolve_dataset_without_match_fails(tmp_path):
    (tmp_path / "Dataset002_Other").mkdir()
    with pytest.raises(FileNotFoundError, match="Dataset003_"):
        paths.resolve_dataset_name(3, [tmp_path])


def test_resolve_dataset_with_several_matches_fails(tmp_path):
    (tmp_path / "Dataset004_A").mkdir()
    (tmp_path / "Dataset004_B").mkdir()
    with pytest.raises(ValueError, match="ambiguous"):
        paths.resolve_dataset_name("4", [tmp_path])


def test_same_name_in_several_roots_is_one_match(tmp_path):
    for root in ("raw", "pre"):
        (tmp_path / root / "Dataset005_X").mkdir(parents=True)
    assert paths.resolve_dataset_name(5, [tmp_path / "raw", tmp_path / "pre"]) == "Dataset005_X"


def test_resolution_uses_environment_roots(monkeypatch, tmp_path):
    (tmp_path / "Dataset007_Env").mkdir()
    monkeypatch.setenv("gdr_raw", str(tmp_path))
    monkeypatch.delenv("gdr_preprocessed", raising=False)
    monkeypatch.delenv("gdr_results", raising=False)
    assert paths.raw_dataset_folder(7) == tmp_path / "Dataset007_Env"


@pytest.mark.parametrize("bad", ["Dataset1_X", "abc", "Dataset001_", ""])
def test_malformed_identifier_is_rejected(bad):
    with pytest.raises(ValueError):
        paths.parse_dataset_identifier(bad)


def test_dataset_folder_name_formats_and_validates():
    assert paths.dataset_folder_name(12, "Brain-MRI") == "Dataset012_Brain-MRI"
    with pytest.raises(ValueError):
        paths.dataset_folder_name(1000, "X")
    with pytest.raises(ValueError):
        paths.dataset_folder_name(1, "bad name")
