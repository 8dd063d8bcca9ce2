"""``setup_logger``: everything printed also goes to the run's ``log.txt`` (docs/engine.md,
"Utilities"), fixed (docs/engine.md, "Faults fixed under both engines", item 5): the tee forwards
``isatty``/``fileno``/``encoding`` to the real stream. Used under real Dassl too."""
from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from ..writes import DiskFullError, disk_full_in


class _Tee:
    """stdout replacement writing to the terminal and a log file.

    Unlike Dassl's Logger it forwards ``isatty``/``fileno``/``encoding`` to the real stream,
    so libraries that query ``sys.stdout`` keep working (docs/engine.md, "Faults fixed under both engines", item 5).
    """

    def __init__(self, stream: TextIO, fpath: str) -> None:
        self.console = stream
        self.file = open(fpath, "w", encoding="utf-8", buffering=1)  # line-buffered: the log is readable live

    def write(self, msg: str) -> int:
        self.console.write(msg)
        if self.file is not None:
            self._to_file(lambda f: f.write(msg), msg)
        return len(msg)

    def flush(self) -> None:
        self.console.flush()
        if self.file is not None:
            self._to_file(lambda f: (f.flush(), os.fsync(f.fileno())), "")

    def _to_file(self, op: Any, msg: str) -> None:
        """Write to the log; a full disk stops the log (the console keeps the rest) and is raised once."""
        try:
            op(self.file)
        except OSError as e:
            if disk_full_in(e) is None:
                raise
            path, self.file = self.file.name, None
            raise DiskFullError(path, f"{max(len(msg.encode()), 1)} bytes for a log line") from e

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


def setup_logger(output: str | None = None) -> str | None:
    """Tee stdout to ``output/log.txt`` (or to ``output`` if it ends in .txt/.log).

    ``log.txt`` is always the current attempt's log: an existing one (a killed or failed attempt)
    is kept under its own last-write time, ``log.txt-%Y-%m-%d-%H-%M-%S`` (Dassl instead gives the
    *new* log the dated name, so ``log.txt`` stays the dead run's; docs/engine.md, "Faults fixed under both engines").
    Returns the path written to.
    """
    if output is None:
        return None
    fpath = output if output.endswith((".txt", ".log")) else os.path.join(output, "log.txt")
    if os.path.exists(fpath):
        earlier = fpath + time.strftime("-%Y-%m-%d-%H-%M-%S", time.localtime(os.path.getmtime(fpath)))
        n = 1
        while os.path.exists(earlier + (f"-{n}" if n > 1 else "")):
            n += 1
        os.replace(fpath, earlier + (f"-{n}" if n > 1 else ""))
    os.makedirs(os.path.dirname(os.path.abspath(fpath)), exist_ok=True)
    base = sys.stdout.console if isinstance(sys.stdout, _Tee) else sys.stdout
    if isinstance(sys.stdout, _Tee):
        sys.stdout.close()
    sys.stdout = _Tee(base, fpath)
    return fpath
