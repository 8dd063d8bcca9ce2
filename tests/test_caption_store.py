"""datasets/captioning/store.py: appends survive a kill; a torn last line is dropped and redone."""
import json

import pytest

from datasets.captioning.store import WorkFile, write_caption_file


def test_append_and_load(tmp_path):
    w = WorkFile(str(tmp_path / "out" / "c.json"))
    assert w.load() == {}
    w.append([{"key": "a", "entry": {"positive": "x"}}, {"key": "b", "entry": None}])
    w.append([{"key": "a", "entry": {"positive": "y"}}])  # a redo replaces
    assert WorkFile(str(tmp_path / "out" / "c.json")).load() == {"a": {"key": "a", "entry": {"positive": "y"}},
                                                                  "b": {"key": "b", "entry": None}}


def test_a_torn_last_line_is_dropped_counted_and_cut(tmp_path):
    w = WorkFile(str(tmp_path / "c.json"))
    w.append([{"key": "a", "entry": None}])
    with open(w.path, "a", encoding="utf-8") as f:
        f.write('{"key": "b", "ent')  # killed mid-write
    again = WorkFile(str(tmp_path / "c.json"))
    assert set(again.load()) == {"a"} and again.torn == 1
    again.append([{"key": "b", "entry": None}])
    assert set(WorkFile(str(tmp_path / "c.json")).load()) == {"a", "b"}


def test_a_damaged_line_in_the_middle_is_an_error(tmp_path):
    w = WorkFile(str(tmp_path / "c.json"))
    with open(w.path, "w", encoding="utf-8") as f:
        f.write('{"key": "a", "entry": null}\nnot json\n{"key": "b", "entry": null}\n')
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        w.load()


def test_caption_file_is_written_whole(tmp_path):
    out = tmp_path / "x" / "c.json"
    write_caption_file(str(out), {"k": {"positive": "p"}})
    assert json.loads(out.read_text()) == {"k": {"positive": "p"}} and list(out.parent.iterdir()) == [out]


def test_a_full_disk_while_appending_keeps_what_was_written(tmp_path, monkeypatch):
    import errno

    from engine import writes

    work = WorkFile(str(tmp_path / "captions.json"))
    work.append([{"key": "a", "entry": {"c": 1}}])

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writes.os, "fsync", full)
    with pytest.raises(writes.DiskFullError, match=r"captions.json.*: it needs"):
        work.append([{"key": "b", "entry": {"c": 2}}])
    monkeypatch.undo()
    assert "a" in WorkFile(str(tmp_path / "captions.json")).load()  # the finished image is kept
