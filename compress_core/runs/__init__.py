"""Runs: the SQLite run store, background worker processes and export of stored runs."""
