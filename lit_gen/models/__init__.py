"""LightningModules (one folder per model) and their network components."""
