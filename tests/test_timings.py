"""tools/timings.py: its formatting by hand, and every figure the README's set-up and
quick-start sections quote is one that a benchmark wrote (docs/bench_*.json)."""
import glob
import json
import os
import re

from tools.timings import duration, pytest_counts, readme_phrases, span

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURE = re.compile(r"\d+ min(?: \d+ s)?(?: to \d+ min(?: \d+ s)?)?|(?<![\w.])\d+ s\b|\d[\d,]* tests"
                    r"|\d+\.\d+ ± \d+\.\d+|(?<![\w.])\d+\.\d+(?![\d.])")


def test_durations_and_ranges():
    assert duration(70.4) == "1 min 10 s" and duration(45) == "45 s" and duration(716) == "11 min 56 s"
    assert span([222, 233]) == "3 min 42 s to 3 min 53 s" and span([70.2, 69.8]) == "1 min 10 s"


def test_pytest_summary_counts():
    out = "....\n==== 250 passed, 3 skipped, 2 deselected in 812.31s (0:13:32) ====\n"
    assert pytest_counts(out) == {"passed": 250, "skipped": 3, "deselected": 2}


def test_readme_phrases_from_the_runs():
    runs = [{"setup_seconds": 70, "suite": {"seconds": 800, "counts": {"passed": 250, "skipped": 3}},
             "quick_start": {"seconds": 716, "seed_seconds": {"seed1": 240, "seed2": 222, "seed3": 233},
                             "metrics": {"i2t_R@1": [13.744, 0.341], "t2i_R@1": [12.57, 0.24]}}},
            {"setup_seconds": 80}]
    assert readme_phrases(runs) == {"setup": "1 min 10 s to 1 min 20 s", "suite": "13 min 20 s",
                                    "quick_start": "11 min 56 s", "per_seed": "3 min 42 s to 4 min 0 s",
                                    "result": "i2t R@1 13.74 ± 0.34, t2i R@1 12.57 ± 0.24"}


def test_the_thread_comparison_comes_from_the_latest_run_that_made_it():
    old = {"setup_seconds": 60, "threads_under_load": {"busy_processes": 2, "epoch_seconds": {"default": [9], "1": [8]}}}
    new = {"setup_seconds": 60, "threads_under_load": {"busy_processes": 4, "epoch_seconds": {"default": [130, 70],
                                                                                            "1": [41, 40]}}}
    assert readme_phrases([old, new, {"setup_seconds": 60}])["threads"] == (
        "40 s to 41 s with one thread, 1 min 10 s to 2 min 10 s with the default threads, beside 4 busy processes")


def test_the_quick_start_figures_come_from_runs_of_its_latest_configs():
    def quick(seconds, configs):
        return {"setup_seconds": 60, "quick_start": {"seconds": seconds, "seed_seconds": {"seed1": seconds / 3},
                                                     "metrics": {"i2t_R@1": [seconds / 100, 0.1]}, **configs}}
    old, new = {}, {"configs": {"configs/trainers/DCAR/synth.yaml": "b2"}}
    phrases = readme_phrases([quick(600, old), quick(1500, new), quick(1560, new)])
    assert phrases["quick_start"] == "25 min 0 s to 26 min 0 s" and phrases["per_seed"] == "8 min 20 s to 8 min 40 s"
    assert phrases["result"] == "i2t R@1 15.60 ± 0.10"
    assert readme_phrases([quick(1500, new), quick(600, old)])["quick_start"] == "10 min 0 s"


def _sections(names):
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        parts = re.split(r"(?m)^## ", f.read())
    return "\n".join(p for p in parts if p.startswith(names))


def _benchmark_figures():
    phrases, numbers = [], set()
    for path in glob.glob(os.path.join(ROOT, "docs", "results", "bench_*.json")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith("bench_timings.json"):
            phrases += json.loads(text)["readme"].values()
        numbers |= {f"{float(n):.2f}" for n in re.findall(r"-?\d+\.\d+", text)}
    return phrases, numbers


def test_every_figure_of_set_up_and_quick_start_was_measured():
    text = _sections(("Set-up", "Quick start"))
    figures = [m.group(0) for m in FIGURE.finditer(text) if not text[max(0, m.start() - 7):m.start()].endswith("Python ")]
    assert len(figures) >= 6  # the set-up, the tests, the quick start, its result
    phrases, numbers = _benchmark_figures()
    unmeasured = [f for f in figures if not any(f in p for p in phrases) and f not in numbers]
    assert not unmeasured, f"README figures no benchmark wrote (python tools/timings.py): {unmeasured}"


def test_the_thread_settings_alternate_beside_the_spinners_and_the_spinners_stop(monkeypatch, tmp_path):
    from tools import timings

    runs, spinners = [], []

    class Spinner:
        def __init__(self, argv):
            self.killed = False
            spinners.append(self)

        def kill(self):
            self.killed = True

    def timed(argv, cwd, env, log):
        runs.append((env.get("OMP_NUM_THREADS", "default"), len([s for s in spinners if not s.killed])))
        return float(len(runs)), ""

    monkeypatch.setattr(timings, "timed", timed)
    monkeypatch.setattr(timings.subprocess, "Popen", Spinner)
    got = timings.threads_under_load("clone", {"OMP_NUM_THREADS": "8"}, str(tmp_path), busy=3)
    assert runs == [("default", 0), ("default", 3), ("1", 3), ("default", 3), ("1", 3)]  # the warm-up runs alone
    assert got == {"busy_processes": 3, "epoch_seconds": {"default": [2.0, 4.0], "1": [3.0, 5.0]}}
    assert all(s.killed for s in spinners)
