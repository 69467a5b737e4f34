"""Shorter schedules for quick experiments and smoke tests."""

from __future__ import annotations

from gdr_toolkit.training.trainer import GDRTrainer


class GDRTrainer_5epochs(GDRTrainer):
    """5 epochs of 250 iterations (the cosine schedule still ends at 1e-6)."""

    num_epochs = 5


class GDRTrainer_1epoch_10iters(GDRTrainer):
    """One epoch of 10 iterations, one validation patch per case: checks a set-up end to end."""

    num_epochs = 1
    iterations_per_epoch = 10
    validation_patches_per_case = 1
    num_dataloader_workers = 0


class GDRTrainer_5epochs_50iters(GDRTrainer):
    """5 epochs of 50 iterations: a few minutes for the CPU configuration on 2 cores (demo scale)."""

    num_epochs = 5
    iterations_per_epoch = 50
    validation_patches_per_case = 2


class GDRTrainer_CPUDemo(GDRTrainer):
    """500 iterations at lr 1e-3 with 90 % enhancement-centred patches: the demo's budget on 2 CPU cores.

    The paper's lr 1e-4 moves the network too little in 500 steps (the phantom's validation PSNR_B rose
    0.3 dB in 250 steps); 1e-3 is safe because the output ReLU leaks gradient (``LeakyGradientReLU``).
    """

    num_epochs = 10
    iterations_per_epoch = 50
    validation_patches_per_case = 2
    initial_learning_rate = 1e-3
    oversample_fraction = 0.9
