"""Experiment planning: plans schema, planners (default and variants), cross-validation splits."""
