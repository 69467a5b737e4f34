"""What a trained model is, shared by training (which writes it) and inference (which reads it).

Modules: ``checkpoint`` (the self-describing checkpoint format), ``prediction_spec`` (what a network
reads and what its output means), ``conditions`` (condition vectors and their normalisation),
``training_ranges`` (the ranges of a fold's training cases, for the out-of-distribution check) and
``network_builder`` (the network from a plan, or rebuilt from a checkpoint without any trainer).
This package sits below ``training/`` and ``inference/`` and imports neither
(documentation/development.md, "Layering rules").
"""
