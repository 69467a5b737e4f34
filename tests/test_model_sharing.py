"""Model export/installation: round trip, zip-slip refusal, unsafe checkpoints."""

from __future__ import annotations

import stat
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from gdr_toolkit.cli.model_sharing import export_main, install_main
from gdr_toolkit.inference.model_loader import load_trained_model
from gdr_toolkit.model_sharing import export_model_to_zip, install_model_from_zip

sys.path.insert(0, str(Path(__file__).parent / "inference"))  # shared builders of the inference tests
from inference_fixtures import DATASET, tiny_plans, write_model_folder  # noqa: E402

MODEL = "Dataset004_Tiny/GDRTrainer__gdrPlans__3d_fullres"


class CustomObject:
    """Unpickling this would import and run code: weights_only loading must refuse it."""


def make_model(root: Path) -> Path:
    model = root / MODEL
    for fold in (0, 1):
        folder = model / f"fold_{fold}"
        folder.mkdir(parents=True)
        for kind in ("final", "latest"):
            torch.save(
                {"format_version": 1, "network_state": {"w": torch.ones(2)}},
                folder / f"checkpoint_{kind}.pth",
            )
        (folder / "training_log.jsonl").write_text('{"epoch": 0}\n')
        (folder / "progress.png").write_bytes(b"png")
    (model / "plans.json").write_text("{}")
    (model / "dataset_statistics.json").write_text("{}")
    return model


def entries(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []


def test_export_install_round_trip(tmp_path, monkeypatch) -> None:
    source, target = tmp_path / "results_a", tmp_path / "results_b"
    make_model(source)
    archive = tmp_path / "model.zip"
    monkeypatch.setenv("gdr_results", str(source))
    assert export_main(["-d", "4", "-o", str(archive)]) == 0
    names = zipfile.ZipFile(archive).namelist()
    assert f"{MODEL}/fold_1/checkpoint_final.pth" in names and f"{MODEL}/plans.json" in names
    assert f"{MODEL}/fold_0/checkpoint_latest.pth" not in names
    monkeypatch.setenv("gdr_results", str(target))
    assert install_main([str(archive)]) == 0
    installed = target / MODEL / "fold_0" / "checkpoint_final.pth"
    assert torch.equal(torch.load(installed, weights_only=True)["network_state"]["w"], torch.ones(2))
    assert (target / MODEL / "fold_1" / "progress.png").read_bytes() == b"png"
    assert not [path for path in target.iterdir() if path.name.startswith(".tmp-")]
    assert install_main([str(archive)]) == 1  # exists: refused without --overwrite
    assert install_main([str(archive), "--overwrite"]) == 0


def test_export_of_selected_fold_and_missing_checkpoint(tmp_path) -> None:
    make_model(tmp_path)
    members = export_model_to_zip(
        4, tmp_path / "a.zip", folds=["1"], checkpoints=["checkpoint_latest.pth"], results_root=tmp_path
    )
    assert all("fold_0" not in member for member in members)
    with pytest.raises(FileNotFoundError, match="checkpoint_best.pth"):
        export_model_to_zip(4, tmp_path / "b.zip", checkpoints=["checkpoint_best"], results_root=tmp_path)


@pytest.mark.parametrize(
    "member", ["../evil.txt", "/tmp/evil.txt", f"{MODEL}/../../../evil.txt", "C:/evil.txt"]
)
def test_zip_slip_members_are_refused_before_anything_is_written(tmp_path, member) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(f"{MODEL}/plans.json", "{}")
        handle.writestr(member, "owned")
    results = tmp_path / "results"
    results.mkdir()
    with pytest.raises(ValueError, match="refusing member"):
        install_model_from_zip(archive, results_root=results)
    assert entries(results) == [] and not (tmp_path / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        info = zipfile.ZipInfo(f"{MODEL}/fold_0/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        handle.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        install_model_from_zip(archive, results_root=tmp_path / "results")
    assert entries(tmp_path / "results") == []


def test_checkpoint_with_custom_object_is_refused_and_removed(tmp_path) -> None:
    evil = tmp_path / "evil.pth"
    torch.save({"network_state": CustomObject()}, evil)
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(f"{MODEL}/plans.json", "{}")
        handle.write(evil, f"{MODEL}/fold_0/checkpoint_final.pth")
    results = tmp_path / "results"
    with pytest.raises(ValueError, match="fold_0/checkpoint_final.pth.*weights_only"):
        install_model_from_zip(archive, results_root=results)
    assert entries(results) == []


def test_a_model_folder_is_its_checkpoints_and_an_old_archive_with_plans_json_still_loads(tmp_path) -> None:
    source = write_model_folder(tmp_path / "results_a" / DATASET, tiny_plans(), folds=(0,), gamma=1.7)
    assert [path.name for path in source.iterdir()] == ["fold_0"]  # no plans.json copy beside the checkpoints
    archive = tmp_path / "old.zip"
    members = export_model_to_zip(DATASET, archive, ["3d_cpu"], results_root=tmp_path / "results_a")
    model = members[0].rsplit("/fold_0/", 1)[0]
    # what exports held before the checkpoint was the model's one source
    with zipfile.ZipFile(archive, "a") as handle:
        handle.writestr(f"{model}/plans.json", '{"schema_version": 1}')
        handle.writestr(f"{model}/dataset_statistics.json", '{"gamma": 99.0}')
    (installed,) = install_model_from_zip(archive, results_root=tmp_path / "results_b")
    loaded = load_trained_model(installed)
    assert [fold.gamma for fold in loaded.folds] == pytest.approx([1.7])  # the checkpoint's, not the copy's
    assert loaded.configuration.patch_size == (16, 16, 16)
