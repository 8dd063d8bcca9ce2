"""Writing files so that a failure loses nothing (docs/engine.md, "Writes and a full disk").

Every file a run writes whole (checkpoints, ``results.json``, pictures, caches, caption files)
goes through :func:`write_atomic`: the bytes go to ``<path>.tmp-<pid>``, are synced and renamed
over ``path``, so the previous version stays intact until the new one is complete, and the
temporary file is removed on any failure. A full disk becomes a :class:`DiskFullError` that
names the file, the space the write needs and the space left, however it arrived (a plain
``OSError``, or wrapped by a library: torch's zip writer turns ENOSPC into a ``RuntimeError``);
``train.py`` prints it as one ``ERROR:`` line.
"""
from __future__ import annotations

import errno
import os
import shutil

FULL = (errno.ENOSPC, errno.EDQUOT)


def tmp_name(path: str) -> str:
    """The temporary name a write to ``path`` uses (``train.py`` removes leftovers of killed runs)."""
    return f"{path}.tmp-{os.getpid()}"


def is_tmp_name(name: str) -> bool:
    """Whether a file name is one :func:`tmp_name` makes: a write in progress, or left by a killed one."""
    stem, sep, pid = name.rpartition(".tmp-")
    return bool(stem and sep and pid.isdigit())


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def free_bytes(path: str) -> int:
    """Free space on the file system that holds ``path`` (or its nearest existing parent)."""
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    return shutil.disk_usage(folder).free


class DiskFullError(OSError):
    """No space left for a write; the message says which file, how much it needs and what is free."""

    def __init__(self, path: str, need: str) -> None:
        super().__init__(errno.ENOSPC, f"No space left on device writing {path}: it needs {need}, "
                                       f"{mib(free_bytes(path))} free there. Free disk space (or choose another "
                                       "folder) and rerun the same command: finished files are intact", path)

    def __str__(self) -> str:
        return self.strerror


def disk_full_in(e: BaseException) -> OSError | None:
    """The full-disk ``OSError`` behind ``e`` (``e`` itself, or a cause or context of it), if any."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in FULL:
            return e
        e = e.__cause__ or e.__context__
    return None


def write_atomic(path: str, data: bytes | str) -> None:
    """``data`` to ``path`` through a synced temporary file and a rename (see the module docstring)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if disk_full_in(e) is None:
            raise
        if os.path.exists(tmp):  # first, so that the free space reported is what a retry would have
            os.remove(tmp)
        raise DiskFullError(path, mib(len(raw))) from e
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def append_synced(path: str, text: str) -> None:
    """Append ``text`` and sync it (a torn last line is the reader's to drop); a full disk is a DiskFullError."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if disk_full_in(e) is None:
            raise
        raise DiskFullError(path, mib(len(text.encode("utf-8")))) from e
