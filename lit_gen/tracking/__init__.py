"""Experiment tracking: logger setup (W&B offline by default, CSV always)."""
