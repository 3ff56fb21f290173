"""Data sets: built-in loaders and user CSV/NPZ files, normalised from the training split."""
