"""GDRTrainer on the tiny phantom: learning, resuming bit-for-bit, fold statistics, variants."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_trainer import TinyTestTrainer

from gdr_toolkit.model.checkpoint import checkpoint_path
from gdr_toolkit.planning.plans import load_plans
from gdr_toolkit.training.variants.conditioning import GDRTrainer_NoCondition
from gdr_toolkit.training.variants.loss_variants import GDRTrainer_UniformWeights
from gdr_toolkit.training.variants.network_variants import GDRTrainer_ConcatSkips, GDRTrainer_StridedDown


class _Interrupted(Exception):
    pass


class InterruptibleTrainer(TinyTestTrainer):
    """Stops ("is killed") right after the checkpoints of epoch ``stop_after_epoch`` are written."""

    stop_after_epoch: int | None = None

    def on_epoch_end(self, epoch, train_loss, metrics, seconds):
        super().on_epoch_end(epoch, train_loss, metrics, seconds)
        if epoch == self.stop_after_epoch:
            raise _Interrupted


def make(trainer_class, dataset, output, fold=0, stop_after_epoch=None, **recipe_changes):
    trainer = trainer_class(load_plans(dataset / "gdrPlans.json"), "3d_cpu", fold, dataset, output)
    trainer.recipe = trainer.recipe.replace(**recipe_changes)
    if stop_after_epoch is not None:
        trainer.stop_after_epoch = stop_after_epoch
    return trainer


def test_short_training_reduces_the_validation_loss(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path, num_epochs=2, iterations_per_epoch=12)
    trainer.initialize()
    before = trainer.validate()["validation_loss"]
    trainer.run_training()
    after = [record["validation_loss"] for record in trainer.log.records]
    assert len(after) == 2 and trainer.current_iteration == 24
    assert min(after) < 0.9 * before


def test_resumed_run_reaches_the_weights_of_an_uninterrupted_run(phantom_dataset, tmp_path):
    uninterrupted = make(InterruptibleTrainer, phantom_dataset, tmp_path / "a")
    uninterrupted.run_training()
    killed = make(InterruptibleTrainer, phantom_dataset, tmp_path / "b", stop_after_epoch=0)
    with pytest.raises(_Interrupted):
        killed.run_training()
    resumed = make(InterruptibleTrainer, phantom_dataset, tmp_path / "b")
    resumed.load_checkpoint(checkpoint_path(tmp_path / "b", "latest"))
    assert (resumed.current_epoch, resumed.current_iteration) == (1, killed.current_iteration)
    assert resumed.scheduler.get_last_lr() == killed.scheduler.get_last_lr()
    assert resumed.optimizer.param_groups[0]["lr"] == killed.optimizer.param_groups[0]["lr"]
    resumed.run_training()
    assert resumed.current_iteration == uninterrupted.current_iteration == 8
    for name, value in uninterrupted.network.state_dict().items():
        torch.testing.assert_close(resumed.network.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    assert [r["epoch"] for r in resumed.log.records] == [0, 1]
    assert resumed.log.records[1]["validation_loss"] == pytest.approx(
        uninterrupted.log.records[1]["validation_loss"], rel=1e-5
    )


def test_gamma_and_condition_statistics_come_from_the_training_cases(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path)
    trainer.initialize()
    assert trainer.validation_case_ids == ["case_000"]
    assert trainer.gamma == pytest.approx(np.mean([1.1, 1.2, 1.3, 1.4]))  # case_000 (1.0) left out
    assert trainer.condition_normalisation.keys == ("dose_fraction", "noise_sigma_ld")
    assert trainer.condition_normalisation.mean[1] == pytest.approx(np.mean([0.03, 0.04, 0.05, 0.06]))


def test_fold_all_trains_on_every_case(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path, fold="all")
    assert trainer.fold_cases() == ([f"case_{i:03d}" for i in range(5)], ["case_000", "case_001", "case_002"])


def test_missing_fold_is_an_error(phantom_dataset, tmp_path):
    with pytest.raises(ValueError, match="fold 7 does not exist.*5 folds"):
        make(TinyTestTrainer, phantom_dataset, tmp_path, fold=7).fold_cases()


def test_split_batch_picks_channels_by_name(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path)
    trainer.initialize()
    data = np.arange(8, dtype=np.float32)[None, :, None, None, None] * np.ones((2, 8, 16, 16, 16), np.float32)
    inputs, condition, target, weights = trainer.split_batch(
        {"data": data, "case_ids": ["case_001", "case_002"]}
    )
    assert inputs[:, :, 0, 0, 0].tolist() == [[0.0, 1.0, 2.0]] * 2
    assert target.shape == (2, 1, 16, 16, 16) and float(target[0, 0, 0, 0, 0]) == 3.0
    assert condition.shape == (2, 2)
    assert float(weights[0, 0, 0, 0, 0]) == pytest.approx(1.0 + 0.01 + 1.0 * 4.0)  # brain 5 > 0.5, p_SD 4


@pytest.mark.parametrize(
    "variant",
    [GDRTrainer_NoCondition, GDRTrainer_UniformWeights, GDRTrainer_ConcatSkips, GDRTrainer_StridedDown],
)
def test_variants_take_a_training_step(variant, phantom_dataset, tmp_path):
    class Tiny(variant):
        recipe_changes = {"num_dataloader_workers": 0, "border_voxels": 4, "validation_patches_per_case": 1}

    trainer = make(Tiny, phantom_dataset, tmp_path)
    trainer.initialize()
    batch = trainer.validation_batches[0]
    assert np.isfinite(trainer.train_step(batch))


def test_no_condition_variant_has_no_condition_inputs(phantom_dataset, tmp_path):
    trainer = make(GDRTrainer_NoCondition, phantom_dataset, tmp_path)
    assert trainer.network_config().condition_features == 0
    trainer.recipe = trainer.recipe.replace(
        num_dataloader_workers=0, border_voxels=4, validation_patches_per_case=1
    )
    trainer.initialize()
    assert trainer.split_batch(trainer.validation_batches[0])[1].shape == (1, 0)


def test_cpu_training_runs_in_float32(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path)
    assert trainer.precision.autocast_dtype is None and not trainer.grad_scaler.is_enabled()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_step_uses_mixed_precision(phantom_dataset, tmp_path):
    trainer = TinyTestTrainer(
        load_plans(phantom_dataset / "gdrPlans.json"), "3d_cpu", 0, phantom_dataset, tmp_path, "cuda"
    )
    trainer.initialize()
    assert trainer.precision.autocast_dtype in (torch.bfloat16, torch.float16)
    assert np.isfinite(trainer.train_step(trainer.validation_batches[0]))
    assert trainer.network.head[1].weight.dtype == torch.float32


def test_training_ranges_span_the_training_cases_and_are_stored(phantom_dataset, tmp_path):
    trainer = make(TinyTestTrainer, phantom_dataset, tmp_path)
    trainer.initialize()
    sigma = trainer.training_ranges.quantities["noise_sigma_ld"]
    assert (sigma.minimum, sigma.maximum, sigma.case_count) == (0.03, 0.06, 4)  # case_000 (0.02) validates
    assert trainer.training_ranges.quantities["field_strength_t"].values == (3.0,)
    stored = trainer.checkpoint_state()["training_ranges"]
    assert stored == json.loads((tmp_path / "training_ranges.json").read_text())
    assert stored["quantities"]["dose_fraction"]["minimum"] == 0.2
