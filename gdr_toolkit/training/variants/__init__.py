"""Trainer variants: each overrides one hook or attribute of ``GDRTrainer`` (ablations, smoke tests)."""
