"""benchmarks/__main__.py and benchmarks/harness/study.py: every study found by its declaration and
listed with it (rows, seeds, draws, split, comparisons, rule, what it reads, its cost); ``run``
runs a study whose report another reads when that report is missing; ``report`` makes no run and
says so in one line when a run has neither a folder nor a record."""
import os
import subprocess
import sys

import pytest

from benchmarks import __main__ as bench
from benchmarks.harness import study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_study_module_is_found_each_after_what_it_reads():
    every = study.studies()
    assert set(every) == {"val_size", "tuning", "synthetic_benchmark", "loss_round", "dcar_choices"}
    order = list(every)
    for name, s in every.items():
        assert all(order.index(need) < order.index(name) for need in s.needs), name
        assert s.module().STUDY is s and s.module().arguments().get_default("seeds") == list(s.seeds)


def test_a_study_reading_itself_back_is_refused(monkeypatch):
    every = study.studies()
    cyclic = {**every, "tuning": study.Study(**{**every["tuning"].__dict__, "needs": ("loss_round",)})}
    monkeypatch.setattr(study.importlib, "import_module",
                        lambda name: type("M", (), {"STUDY": cyclic[name.rsplit(".", 1)[1]]}) if name.rsplit(".", 1)[1]
                        in cyclic else __import__(name))
    with pytest.raises(ValueError, match="a cycle"):
        study.studies()


def test_list_prints_every_declaration(capsys):
    assert bench.main(["list"]) == 0
    out = capsys.readouterr().out
    for name, s in study.studies().items():
        assert f"{name}: {s.question}" in out and f"rule: {s.rule}" in out
        assert os.path.isfile(s.report_paths()[0])
    assert "reads: tuning, synthetic_benchmark;" in out and "data seeds 0, 7;" in out


def test_run_makes_a_missing_report_it_reads_first(monkeypatch):
    calls = []
    every = study.studies()
    for name in ("tuning", "loss_round"):
        monkeypatch.setattr(every[name].module(), "main", lambda argv, name=name: calls.append((name, argv)))
    tuning_json = every["tuning"].report_paths()[1]
    isfile = os.path.isfile
    monkeypatch.setattr(bench.os.path, "isfile", lambda p: p != tuning_json and isfile(p))
    assert bench.main(["run", "loss_round", "--quick"]) == 0
    assert calls == [("tuning", []), ("loss_round", ["--quick"])]


def test_report_makes_no_run(tmp_path, tiny_clip_files):
    res = subprocess.run([sys.executable, "-m", "benchmarks", "report", "val_size", "--quick", "--seeds", "1", "2",
                          "--backbone", tiny_clip_files["described"], "--data", str(tmp_path / "data"), "--runs",
                          str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and not os.path.exists(tmp_path / "runs")
    assert "ERROR: 18 of the study's runs have neither a finished folder nor a record (no records folder" in res.stdout
