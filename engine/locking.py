"""A lock file naming its holder: one process writes a run folder or prepares a data folder.

The lock is a small JSON file (pid, host, start time, purpose) created atomically (written under
a temporary name, then hard-linked to the lock's name, which fails if it exists). A second
process either waits for the holder (data preparation) or refuses with a message naming it (a
run folder). A lock left by a dead process on this host is taken over, and said so; a lock from
another host cannot be checked and is treated as live.
"""
from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from typing import Iterator


class LockedError(ValueError):
    """The lock is held by a live process (the message names it and the way out)."""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, dead but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): signal 0 succeeded, so it exists
        return True


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} (since {started}: {holder.get('what', '?')})"


def _stale(holder: dict) -> bool:
    """A lock whose holder is known to be gone: a dead pid on this host, or an unreadable file."""
    if not holder:
        return True
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1)))


def _try_create(path: str, what: str) -> bool:
    tmp = f"{path}.{os.getpid()}.new"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "what": what}, f)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.remove(tmp)


def acquire(path: str, what: str, wait: bool, poll_s: float = 1.0, how_to: str = "") -> None:
    """Take the lock at ``path`` for ``what``. Held by a live process: wait until it is released
    (``wait``), else raise :class:`LockedError` whose message ends with ``how_to``."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    announced = False
    while not _try_create(path, what):
        holder = _read(path)
        if holder is None:
            continue  # released between our attempt and the read
        if _stale(holder):
            print(f"Taking over the stale lock {path} (its holder, {_describe(holder)}, is no longer running)")
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            continue
        if not wait:
            raise LockedError(f"{path} is held by {_describe(holder)}. {how_to}".strip())
        if not announced:
            print(f"Waiting for {_describe(holder)} to release {path} ...")
            announced = True
        time.sleep(poll_s)


def release(path: str) -> None:
    """Remove the lock if this process holds it."""
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        os.remove(path)


@contextmanager
def locked(path: str, what: str, wait: bool, how_to: str = "") -> Iterator[None]:
    acquire(path, what, wait, how_to=how_to)
    try:
        yield
    finally:
        release(path)
