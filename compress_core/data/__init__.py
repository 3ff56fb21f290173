"""Data sets: built-in loaders and user CSV/NPZ files, normalised from the training split."""

# Registers the bundled text set and the text CSV loader in `datasets` (text imports datasets, not
# the other way round).
from compress_core.data import text as _text  # noqa: E402,F401
