"""Where FDRDSynth is written, safely: nothing outside it is touched and nothing is ever deleted.

``$ROOT/<DATASET.FDRD_SYNTH.DIR>/`` is FDRDSynth's home, marked by a ``.fdrd_synth`` file. Each
set of generator settings gets its own sub-folder named by the settings' hash, so a run with
other settings never disturbs a running job, and a finished folder is never rewritten. A folder
is generated under a temporary name and renamed into place when complete, under a lock that
makes a second process wait for the first instead of generating alongside it.

Refused, with a one-line message: an empty, ``.``, absolute or escaping ``DIR``, and an existing
``DIR`` that holds anything but FDRDSynth (no marker, not empty).
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Callable

from engine.locking import locked
from engine.writes import DiskFullError, disk_full_in, mib

MARKER = ".fdrd_synth"
MANIFEST = "manifest.json"  # written last by the generator: its presence means "complete"
DIR_KEY = "DATASET.FDRD_SYNTH.DIR"


class SynthFolderError(ValueError):
    """A folder setting or an existing folder that FDRDSynth must not write into."""


def check_dir_setting(value: str) -> str:
    """The normalised relative folder name, or a clear error for a value that would let FDRDSynth
    write outside its own folder."""
    fix = f"set {DIR_KEY} to a folder name under DATASET.ROOT, e.g. fdrd_synth"
    if not value or not value.strip():
        raise SynthFolderError(f"{DIR_KEY} is empty: {fix}")
    if os.path.isabs(value) or value.startswith("~"):
        raise SynthFolderError(f"{DIR_KEY} {value!r} is absolute: {fix} (move DATASET.ROOT instead)")
    norm = os.path.normpath(value)
    if norm == "." or norm.split(os.sep)[0] == "..":
        raise SynthFolderError(f"{DIR_KEY} {value!r} does not name a folder inside DATASET.ROOT: {fix}")
    return norm


def _is_legacy(path: str) -> bool:
    """A folder written by an earlier FDRDSynth (a manifest of its settings and its captions)."""
    try:
        with open(os.path.join(path, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "classes_per_domain" in manifest and os.path.isdir(os.path.join(path, "captions"))


def claim_home(root: str, dir_value: str) -> str:
    """``$ROOT/<DIR>``, created and marked, or already FDRDSynth's; anything else is refused."""
    home = os.path.join(root, check_dir_setting(dir_value))
    marker = os.path.join(home, MARKER)
    if os.path.isfile(marker):
        return home
    if os.path.exists(home):
        if not os.path.isdir(home):
            raise SynthFolderError(f"{home} exists and is a file: set {DIR_KEY} to a new folder name")
        # not empty: refused unless another process marked it since the first look (a concurrent first use)
        if os.listdir(home) and not os.path.isfile(marker) and not _is_legacy(home):
            raise SynthFolderError(
                f"{home} exists and is not an FDRDSynth folder (no {MARKER} marker, not empty); FDRDSynth never "
                f"writes into or deletes a folder it did not create: set {DIR_KEY} to a new folder name")
    os.makedirs(home, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as f:
        f.write("FDRDSynth data written by DCAR (datasets/fdrd/synth.py); one sub-folder per generator setting.\n")
    return home


def ensure(root: str, dir_value: str, name: str, build: Callable[[str], None]) -> str:
    """The complete folder ``$ROOT/<DIR>/<name>``, built by ``build(tmp_folder)`` if absent.

    Returns its path relative to ``root``. Concurrent callers wait for the one building.
    """
    home = claim_home(root, dir_value)
    final = os.path.join(home, name)
    rel = os.path.relpath(final, root)
    if os.path.isfile(os.path.join(final, MANIFEST)):
        return rel
    with locked(os.path.join(home, f"{name}.lock"), f"generating FDRDSynth {name}", wait=True):
        if os.path.isfile(os.path.join(final, MANIFEST)):
            return rel  # another process built it while we waited
        if os.path.exists(final):
            raise SynthFolderError(f"{final} exists but is incomplete (no {MANIFEST}) and was not written by this "
                                   f"generator run; move it away or set {DIR_KEY} to a new folder name")
        prefix = f".tmp-{name}-"
        for leftover in os.listdir(home):  # ours (by name), from a process that died while building
            if leftover.startswith(prefix):
                print(f"Removing an unfinished FDRDSynth build {os.path.join(home, leftover)}")
                shutil.rmtree(os.path.join(home, leftover))
        tmp = os.path.join(home, f"{prefix}{os.getpid()}")
        print(f"Generating FDRDSynth into {final}")
        try:
            build(tmp)
        except OSError as e:
            if disk_full_in(e) is None:
                raise
            written = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tmp) for f in fs)
            shutil.rmtree(tmp, ignore_errors=True)  # an unfinished build is never used: give the space back
            raise DiskFullError(final, f"more than the {mib(written)} it had written when the disk filled") from e
        os.rename(tmp, final)
    return rel
