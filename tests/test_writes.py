"""engine.writes: atomic writes keep the previous file and leave no temporary file when the disk
fills; a full disk is one error naming the file and the space needed, also when a library
wrapped it (torch's zip writer raises RuntimeError); the log, the FDRDSynth build and the
few-shot cache go the same way."""
import errno
import io
import os

import pytest

from engine import writes
from engine.fixes import logger
from engine.writes import DiskFullError, append_synced, disk_full_in, write_atomic


def _full(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_keeps_the_previous_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_atomic(str(path), '{"old": 1}')
    monkeypatch.setattr(writes.os, "fsync", _full)  # the bytes are in the temporary file when the disk fills
    with pytest.raises(DiskFullError) as err:
        write_atomic(str(path), b"x" * (3 << 20))
    msg = str(err.value)
    assert msg.startswith(f"No space left on device writing {path}: it needs 3.0 MiB, ") and "MiB free there" in msg
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path) and "\n" not in msg
    assert path.read_text() == '{"old": 1}' and os.listdir(tmp_path) == ["results.json"]


def test_other_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(writes.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError) as err:
        write_atomic(str(tmp_path / "a"), "x")
    assert not isinstance(err.value, DiskFullError) and os.listdir(tmp_path) == []


def test_a_full_disk_is_found_behind_a_library_wrapper():
    try:
        try:
            _full()
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")  # noqa: B904
    except RuntimeError as e:
        assert disk_full_in(e).errno == errno.ENOSPC
    assert disk_full_in(RuntimeError("other")) is None and disk_full_in(OSError(errno.EACCES, "no")) is None


def test_append_on_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "work.jsonl"
    append_synced(str(path), "a\n")
    monkeypatch.setattr(writes.os, "fsync", _full)
    with pytest.raises(DiskFullError, match="work.jsonl: it needs 0.0 MiB"):
        append_synced(str(path), "b\n")


def test_the_log_stops_once_on_a_full_disk_and_the_console_keeps_everything(tmp_path, monkeypatch):
    console = io.StringIO()
    tee = logger._Tee(console, str(tmp_path / "log.txt"))
    tee.write("first\n")
    monkeypatch.setattr(tee, "file", type("Full", (), {"write": _full, "name": str(tmp_path / "log.txt")})())
    with pytest.raises(DiskFullError, match="log.txt: it needs 7 bytes for a log line"):
        tee.write("second\n")
    tee.write("ERROR: ...\n")  # the error line itself reaches the console without raising again
    assert console.getvalue() == "first\nsecond\nERROR: ...\n" and tee.file is None


def test_a_synth_build_on_a_full_disk_is_removed(tmp_path):
    from datasets.fdrd.synth_folder import ensure

    def build(folder):
        os.makedirs(folder)
        (open(os.path.join(folder, "a.png"), "wb")).write(b"x" * 1000)
        _full()

    with pytest.raises(DiskFullError, match=r"seed0: it needs more than the 0.0 MiB it had written"):
        ensure(str(tmp_path), "fdrd_synth", "seed0", build)
    assert not [f for f in os.listdir(tmp_path / "fdrd_synth") if f.startswith(".tmp-")]


def test_the_few_shot_cache_on_a_full_disk_is_an_error_not_a_note(tmp_path, monkeypatch):
    from datasets.fdrd import fewshot

    monkeypatch.setattr(writes.os, "fsync", _full)
    keys = ["a", "b", "c", "d"]
    with pytest.raises(DiskFullError, match="shots.json"):
        fewshot.fewshot_keys((keys, [0, 0, 1, 1]), (keys, [0, 0, 1, 1]), 1, 0,
                              str(tmp_path / "shots.json"))


def test_tmp_names_are_recognised():
    assert writes.is_tmp_name(os.path.basename(writes.tmp_name("/r/results.json")))
    assert writes.is_tmp_name("model.pth.tar-3.tmp-41")
    assert not any(map(writes.is_tmp_name, ["results.json", "x.tmp-", "x.tmp-12a", ".tmp-12", "log.txt-2026"]))
