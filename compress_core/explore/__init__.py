"""Exploration over many runs: sweeps, per-layer sensitivity scans and Pareto fronts."""
