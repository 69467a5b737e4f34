"""Training of the conditional contrast-signal network (documentation/method.md section 4).

Modules: ``loss`` (weighted Huber loss), ``conditions`` (condition vectors and their normalisation),
``trainer`` (``GDRTrainer`` and its hooks), ``checkpoint`` (self-describing checkpoints),
``validation`` (validation metrics), ``training_log`` (JSON-lines
log and progress plot), ``distributed`` (DDP set-up), ``registry``
(trainer classes by name), ``fold_training`` (the fold folder, resuming, plans copies), ``variants/``
(ablation and smoke-test trainers) and ``data/`` (patch loading and augmentation).
See documentation/training.md.
"""
