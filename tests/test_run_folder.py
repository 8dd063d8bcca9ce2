"""run_folder.py by hand on small folders (the whole behaviour through train.py: tests/test_train.py)."""
import pytest

import run_folder
import train


def test_a_folder_holds_a_run_when_it_has_results_or_a_checkpoint(tmp_path):
    assert not run_folder.has_run(str(tmp_path)) and not run_folder.has_run(str(tmp_path / "absent"))
    (tmp_path / "prompt_learner").mkdir()
    (tmp_path / "prompt_learner" / "checkpoint").write_text("model.pth.tar-1")
    assert run_folder.has_run(str(tmp_path))
    other = tmp_path / "o"
    other.mkdir()
    (other / "results.json").write_text("{}")
    assert run_folder.has_run(str(other))


def test_only_the_temporary_files_of_writes_are_removed(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    for name in ("results.json.tmp-12", "m/model.pth.tar-2.tmp-7", "results.json", "log.txt-2026-01-02-03-04-05"):
        (tmp_path / name).write_text("x")
    run_folder.remove_unfinished_writes(str(tmp_path))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["log.txt-2026-01-02-03-04-05", "results.json"]
    assert "Removed 2 unfinished temporary file(s)" in capsys.readouterr().out


def test_an_output_dir_that_is_a_file_is_one_named_line(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("notes")
    with pytest.raises(SystemExit) as exit_info:
        train.run(["--trainer", "ToyTrainer", "--output-dir", str(target)])
    assert exit_info.value.code == 2
    assert f"ERROR: --output-dir {target} is an existing file, not a folder" in capsys.readouterr().out
    assert target.read_text() == "notes"
