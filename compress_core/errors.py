"""User-facing errors.

Every error a user can cause (a bad name, a bad value, a bad file) is raised as
`CompressError`, a `ValueError`, whose message names the bad value and what is
allowed. The CLI prints it as one line; the UI shows it with `st.error`.
"""


class CompressError(ValueError):
    """A problem with the user's input, explained in one sentence."""


class RunCancelled(Exception):
    """Raised inside a run (usually from a progress callback) to stop it early."""
