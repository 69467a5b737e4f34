"""Trainer variants: each overrides one hook of ``GDRTrainer`` or declares ``recipe_changes`` (ablations, smoke tests)."""
