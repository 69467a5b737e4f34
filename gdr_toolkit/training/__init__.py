"""Training of the conditional contrast-signal network (documentation/method.md section 4).

Modules: ``loss`` (weighted Huber loss), ``trainer`` (``GDRTrainer`` and its hooks), ``validation``
(validation metrics), ``training_log`` (JSON-lines log and progress plot), ``distributed`` (DDP set-up),
``registry`` (trainer classes by name), ``fold_training`` (the fold folder, resuming, plans copies),
``variants/`` (ablation and smoke-test trainers) and ``data/`` (patch loading and augmentation). The
checkpoint format, condition normalisation, prediction spec, training ranges and network building live
in ``gdr_toolkit/model/`` (shared with inference); validating a trained fold is the pipeline step
``pipeline/validate_step.py``. See documentation/training.md.
"""
