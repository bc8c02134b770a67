"""The shared data layer: sources (datasets) and one LightningDataModule."""
