"""benchmarks/__main__.py: every study listed with what it reads, its report and its cost; ``run``
runs a study whose report another reads when that report is missing; ``report`` makes no run and
says so in one line when a run has neither a folder nor a record."""
import os
import subprocess
import sys

from benchmarks import __main__ as bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_list_names_every_study_with_its_report_and_what_it_reads(capsys):
    assert bench.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in bench.STUDIES:
        row = bench.describe(name)
        assert f"{name}: " in out and os.path.isfile(os.path.join(ROOT, row["report"]))
    assert "loss_round: A second val round" in out and "reads: tuning, synthetic_benchmark;" in out
    assert "synthetic_benchmark" in out and "387 core-minutes of runs (113 runs)" in out  # from its committed report


def test_run_makes_a_missing_report_it_reads_first(monkeypatch):
    calls = []
    monkeypatch.setattr(bench.subprocess, "run", lambda cmd, cwd: calls.append(cmd[1:]) or subprocess.CompletedProcess(cmd, 0))
    tuning_json = bench.study_module("tuning").arguments().get_default("json")
    isfile = os.path.isfile
    monkeypatch.setattr(bench.os.path, "isfile", lambda p: p != tuning_json and isfile(p))
    assert bench.main(["run", "loss_round", "--quick"]) == 0
    assert calls == [[os.path.join("benchmarks", "tuning.py")], [os.path.join("benchmarks", "loss_round.py"), "--quick"]]


def test_report_makes_no_run(tmp_path, tiny_clip_files):
    res = subprocess.run([sys.executable, "-m", "benchmarks", "report", "val_size", "--quick", "--seeds", "1", "2",
                          "--backbone", tiny_clip_files["described"], "--data", str(tmp_path / "data"), "--runs",
                          str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and not os.path.exists(tmp_path / "runs")
    assert "ERROR: 18 of the study's runs have neither a finished folder nor a record (no records folder" in res.stdout
