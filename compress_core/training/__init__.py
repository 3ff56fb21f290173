"""Training: the fit/evaluate loop and the cached baselines every method starts from."""
