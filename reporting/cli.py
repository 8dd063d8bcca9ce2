"""One error style for every command of the project (``train.py``, ``parse_test_res.py``, the
``python -m`` tools): bad input -- a wrong flag value, a missing file or folder, a setting that
does not fit -- is one ``ERROR:`` line on stdout naming what and the fix, and exit status
:data:`BAD_INPUT`; a check that finds broken data or a failed step exits 1 (docs/engine.md)."""
from __future__ import annotations

BAD_INPUT = 2


def bad_input(message: object) -> int:
    """Print ``message`` as the command's one ``ERROR:`` line; returns the exit status."""
    print(f"ERROR: {message}")
    return BAD_INPUT
