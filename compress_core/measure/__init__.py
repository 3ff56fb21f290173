"""Measurements: accuracy, sizes, FLOPs and latency as pure functions, and `assess` that applies them."""
