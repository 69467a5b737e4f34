"""The pipeline's steps as library functions: plan, preprocess, validate a trained fold, predict a folder,
plot a fold's embedding.

The commands (``gdr_plan_experiment``, ``gdr_preprocess``, ``gdr_plan_and_preprocess``, ``gdr_predict``,
``gdr_plot_embedding``) parse their flags and call these; the reproduction study and the demo call them
in-process (the library never imports ``gdr_toolkit.cli``). Failures raise (``ValueError``, ``OSError``,
``PreprocessingError``) instead of returning exit codes; progress bars are the caller's (a
``ProgressFactory``, e.g. tqdm, or none). One module per step, so that ``gdr_preprocess`` (and its
spawned workers) does not import torch.
"""
