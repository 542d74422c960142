"""Training, data handling and baselines for dermview segmentation models (not shipped)."""
