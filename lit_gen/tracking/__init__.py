"""Experiment tracking: logger setup (W&B offline by default, CSV always) and the HTML comparison report."""
