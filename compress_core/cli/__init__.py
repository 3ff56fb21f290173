"""`python -m compress_core`: the command line over the engine (the engine never imports it)."""
