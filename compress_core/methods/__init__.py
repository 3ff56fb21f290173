"""Compression methods (run kinds), one module each, registered in `methods.registry`."""
