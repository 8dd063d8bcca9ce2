"""datasets/fdrd/fetch.py: a download is written whole, an unreachable source is one OfflineError."""
import os

import pytest

from datasets.fdrd.fetch import OfflineError, _get


def test_a_download_is_written_whole_and_leaves_no_temporary_file(tmp_path):
    src = tmp_path / "src.json"
    src.write_text('{"a.jpg": {"positive": "x"}}')
    dst = tmp_path / "out" / "inter_dtd_test.json"
    dst.parent.mkdir()
    assert _get(src.as_uri(), str(dst), timeout=5) is True
    assert dst.read_text() == src.read_text() and os.listdir(dst.parent) == ["inter_dtd_test.json"]


def test_an_unreachable_source_is_an_offline_error_and_writes_nothing(tmp_path):
    dst = tmp_path / "x.json"
    with pytest.raises(OfflineError, match="cannot reach"):
        _get((tmp_path / "absent.json").as_uri(), str(dst), timeout=5)
    assert not dst.exists() and os.listdir(tmp_path) == []


def test_download_offline_is_exit_2_and_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    from datasets.fdrd import fetch
    from datasets.fdrd.__main__ import main as fdrd_cli

    monkeypatch.setattr(fetch, "RELEASE_BASE", (tmp_path / "unreachable").as_uri())
    assert fdrd_cli(["download", "--root", str(tmp_path / "data")]) == 2
    assert capsys.readouterr().out.startswith("ERROR: cannot download (offline: cannot reach")
    assert not (tmp_path / "data" / "fdrd").exists()
