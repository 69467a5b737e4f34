"""``gdr_train`` end to end on the phantom: fold folder, finished folds, resuming, errors, DDP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from gdr_toolkit.cli.train import main

TRAINER_FOLDER = "Dataset042_TrainPhantom/TinyTestTrainer__gdrPlans__3d_cpu"
ARGUMENTS = ["42", "0", "-c", "3d_cpu", "-tr", "TinyTestTrainer", "--iterations_per_epoch", "2"]


def test_train_writes_the_fold_folder(environment):
    assert main(ARGUMENTS) == 0
    fold = environment / TRAINER_FOLDER / "fold_0"
    for name in ("checkpoint_latest.pth", "checkpoint_best.pth", "checkpoint_final.pth", "progress.png"):
        assert (fold / name).is_file(), name
    lines = (fold / "training_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [2, 4]
    # no plans copy beside the fold: the checkpoint is the model's one source
    assert [path.name for path in fold.parent.iterdir()] == ["fold_0"]
    checkpoint = torch.load(fold / "checkpoint_final.pth", weights_only=True)
    assert checkpoint["plans"]["plans_name"] == "gdrPlans" and checkpoint["configuration"] == "3d_cpu"


def test_schedule_overrides_reach_the_trainer(environment):
    arguments = [*ARGUMENTS, "-lr", "0.0025", "--oversample_fraction", "0.75"]
    assert main(arguments) == 0
    checkpoint = torch.load(
        environment / TRAINER_FOLDER / "fold_0" / "checkpoint_final.pth", weights_only=True
    )
    recipe = checkpoint["trainer_settings"]
    assert recipe["initial_learning_rate"] == 0.0025 and recipe["oversample_fraction"] == 0.75  # override
    assert recipe["border_voxels"] == 4 and recipe["num_epochs"] == 2  # TinyTestTrainer's own, over the CPU's
    assert (
        recipe["noise_units"] and recipe["augmentation"]["permute_axes"]
    )  # the CPU recipe, over the paper's


@pytest.mark.parametrize(
    "flag, value", [("-lr", "0"), ("--oversample_fraction", "1.5"), ("--num_epochs", "0")]
)
def test_out_of_range_overrides_fail_clearly(environment, capsys, flag, value):
    assert main([*ARGUMENTS, flag, value]) == 1
    assert flag in capsys.readouterr().err


def test_finished_fold_is_left_alone(environment, capsys):
    assert main(ARGUMENTS) == 0
    final = environment / TRAINER_FOLDER / "fold_0" / "checkpoint_final.pth"
    written = final.stat().st_mtime_ns
    assert main([*ARGUMENTS, "--c"]) == 0
    assert "is finished" in capsys.readouterr().err
    assert final.stat().st_mtime_ns == written


def test_unfinished_fold_needs_continue(environment, capsys):
    assert main(ARGUMENTS) == 0
    fold = environment / TRAINER_FOLDER / "fold_0"
    (fold / "checkpoint_final.pth").unlink()  # as if killed before the final checkpoint
    assert main(ARGUMENTS) == 1
    assert "pass --c" in capsys.readouterr().err
    assert main([*ARGUMENTS, "--c"]) == 0
    assert "resumed" in capsys.readouterr().err
    assert (fold / "checkpoint_final.pth").is_file()


def test_unknown_trainer_and_fold_fail_clearly(environment, capsys):
    assert main(["42", "0", "-c", "3d_cpu", "-tr", "Nope"]) == 1
    assert "available" in capsys.readouterr().err
    assert main(["42", "x", "-c", "3d_cpu"]) == 1
    assert "FOLD" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_three_process_cpu_run_on_the_default_plan_completes(environment):
    """The plan's batch (2) is per process: 3 gloo processes train with a global batch of 6."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "3", "--master_port", str(free_port()),
               "-m", "gdr_toolkit.cli.train", *ARGUMENTS, "--num_epochs", "1", "-device", "cpu"]  # fmt: skip
    result = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    fold = environment / TRAINER_FOLDER / "fold_0"
    assert (fold / "checkpoint_final.pth").is_file()
    assert len((fold / "training_log.jsonl").read_text().splitlines()) == 1
    assert "batch 2 per process x 3 process(es)" in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_node_c10d_rendezvous_on_localhost_completes(environment):
    """Two torchrun "nodes" on 127.0.0.1 meet through c10d rendezvous (as on a cluster, one per machine)."""
    port = free_port()
    commands = [
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
         "--node_rank", str(node), "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
         "--rdzv_id", "gdr_test", "-m", "gdr_toolkit.cli.train", *ARGUMENTS, "--num_epochs", "1", "-device", "cpu"]
        for node in range(2)
    ]  # fmt: skip
    nodes = [subprocess.Popen(c, env=dict(os.environ), stderr=subprocess.PIPE, text=True) for c in commands]
    errors = [node.communicate(timeout=300)[1] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    assert (environment / TRAINER_FOLDER / "fold_0" / "checkpoint_final.pth").is_file()
    assert any("x 2 process(es)" in text for text in errors)


@pytest.mark.slow
def test_simulated_dataset_trains_end_to_end(tmp_path, monkeypatch):
    """Simulate, plan and preprocess a tiny 4 mm dataset, then a smoke-test trainer (about a minute)."""
    from gdr_toolkit.cli.plan_and_preprocess import main as plan_and_preprocess
    from gdr_toolkit.simulation import SimulationSettings
    from gdr_toolkit.simulation.dataset_writer import write_simulated_dataset

    for variable in ("raw", "preprocessed", "results"):
        monkeypatch.setenv(f"gdr_{variable}", str(tmp_path / variable))
    write_simulated_dataset(tmp_path / "raw" / "Dataset021_Tiny", SimulationSettings.tiny(), 5, 0, seed=8)
    assert plan_and_preprocess(["-d", "21", "-np", "1", "-c", "3d_cpu"]) == 0
    assert main(["21", "0", "-c", "3d_cpu", "-tr", "GDRTrainer_1epoch_10iters"]) == 0
    fold = tmp_path / "results" / "Dataset021_Tiny" / "GDRTrainer_1epoch_10iters__gdrPlans__3d_cpu" / "fold_0"
    assert json.loads((fold / "training_log.jsonl").read_text())["iteration"] == 10
    assert torch.load(fold / "checkpoint_final.pth", weights_only=True)["gamma"] > 0
