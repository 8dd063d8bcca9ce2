"""The figures the README's set-up and quick-start sections quote, measured as a new user meets them.

    python tools/timings.py [--repo .] [--json docs/results/bench_timings.json] [--skip-suite] [--skip-quickstart]
                            [--threads-under-load N]

In a fresh clone of ``--repo`` (its committed HEAD) and a fresh virtual environment:

1. set-up: ``python -m venv`` and ``pip install -r requirements-dev.txt`` (wall time; where pip
   takes packages from is recorded, since a first download from PyPI takes longer);
2. the tests: ``python -m pytest -q`` (wall time and the counts of pytest's summary line);
3. the quick start: ``bash scripts/dcar/main.sh fdrd_synth 16`` with fresh ``DATA`` and output
   folders (wall time; each seed from its ``env.txt`` to its ``results.json``, the first seed
   including the generation of FDRDSynth; the mean +- std lines it prints), with the Git blob
   ids of the configs it runs (``configs``);
4. with ``--threads-under-load N``: one epoch of that run beside N busy processes, with the default
   threads and with ``OMP_NUM_THREADS=1``, twice each, alternately (what a CPU shared with other
   jobs does to the thread pool).

Each measurement is appended to ``runs`` in ``--json`` with the machine (CPU model, cores, load
average at the start) and the commit; ``readme`` holds the phrases the README quotes, made from
every run recorded (ranges where there are several; the quick start's only from the runs with the
latest run's configs, since a new config changes what it trains). ``tests/test_timings.py`` checks that every
figure in those README sections is one of them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK_START = ["bash", "scripts/dcar/main.sh", "fdrd_synth", "16"]
QUICK_START_CONFIGS = ("configs/trainers/DCAR/synth.yaml", "configs/datasets/fdrd_synth.yaml")
# One epoch of the quick start's DCAR run (start to end of train.py, no evaluation), for the
# comparison of thread settings on a CPU shared with other jobs.
EPOCH = ["python", "train.py", "--trainer", "DCAR", "--dataset-config-file", "configs/datasets/fdrd_synth.yaml",
         "--config-file", "configs/trainers/DCAR/synth.yaml", "--seed", "1"]
EPOCH_OPTS = ["OPTIM.MAX_EPOCH", "1", "TRAIN.VAL_FREQ", "-1", "TEST.NO_TEST", "True"]
SUMMARY_LINE = re.compile(r"^\* (?P<name>[\w@]+): (?P<mean>[\d.]+)% \+- (?P<std>[\d.]+)% \(std\)$")


def duration(seconds: float) -> str:
    """``1 min 10 s``, ``45 s``."""
    minutes, s = divmod(round(seconds), 60)
    return f"{minutes} min {s} s" if minutes else f"{s} s"


def span(values: list[float]) -> str:
    """One duration, or ``low to high`` for several."""
    low, high = min(values), max(values)
    return duration(low) if duration(low) == duration(high) else f"{duration(low)} to {duration(high)}"


def machine() -> dict:
    model = ""
    if os.path.isfile("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "load_average": os.getloadavg()[0],
            "python": platform.python_version(), "gpu": bool(subprocess.run(["sh", "-c", "command -v nvidia-smi"],
                                                                             capture_output=True).stdout)}


def pip_sources() -> list[str]:
    """Where pip takes packages from here (index and wheel folders): a local mirror installs
    faster than a first download from PyPI."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if re.search(r"index-url|find-links", line)]


def timed(argv: list[str], cwd: str, env: dict, log: str) -> tuple[float, str]:
    """Run ``argv``; its wall time and output (also written to ``log``). A failure stops the benchmark."""
    start = time.time()
    out = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.time() - start
    with open(log, "w", encoding="utf-8") as f:
        f.write(out.stdout + out.stderr)
    if out.returncode:
        raise SystemExit(f"{' '.join(argv)} failed (exit {out.returncode}); its output: {log}")
    return elapsed, out.stdout


def pytest_counts(output: str) -> dict[str, int]:
    """``{"passed": 250, "skipped": 3, ...}`` from pytest's last summary line."""
    last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)][-1]
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?)", last)}


def quick_start(clone: str, env: dict, work: str) -> dict:
    data, out = os.path.join(work, "data"), os.path.join(work, "output")
    env = dict(env, DATA=data, OUTPUT_ROOT=out)
    elapsed, stdout = timed(QUICK_START, clone, env, os.path.join(work, "quickstart.log"))
    exp = os.path.join(out, "fdrd_synth", "DCAR", "synth_16shots")
    seeds = {}
    for seed in sorted(os.listdir(exp)):
        run = os.path.join(exp, seed)
        seeds[seed] = os.path.getmtime(os.path.join(run, "results.json")) - os.path.getmtime(os.path.join(run, "env.txt"))
    metrics = {m["name"]: [float(m["mean"]), float(m["std"])] for m in map(SUMMARY_LINE.match, stdout.splitlines()) if m}
    configs = {path: subprocess.run(["git", "rev-parse", f"HEAD:{path}"], cwd=clone, capture_output=True, text=True,
                                    check=True).stdout.strip() for path in QUICK_START_CONFIGS}
    return {"seconds": elapsed, "seed_seconds": seeds, "metrics": metrics, "configs": configs,
            "threads": env.get("OMP_NUM_THREADS", "default")}


def threads_under_load(clone: str, env: dict, work: str, busy: int, repeats: int = 2) -> dict:
    """One epoch of the quick start's DCAR run beside ``busy`` spinning processes, with the default
    threads and with ``OMP_NUM_THREADS=1``, alternately ``repeats`` times each (FDRDSynth generated
    first, by an untimed run without the spinners)."""
    data = os.path.join(work, "load-data")

    def epoch(threads: str, out: str) -> float:
        run_env = {k: v for k, v in env.items() if k != "OMP_NUM_THREADS"}
        if threads == "1":
            run_env["OMP_NUM_THREADS"] = "1"
        return timed([*EPOCH, "--root", data, "--output-dir", out, *EPOCH_OPTS], clone, run_env, out + ".log")[0]

    epoch("default", os.path.join(work, "load-warm-up"))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    times: dict[str, list[float]] = {"default": [], "1": []}
    try:
        for i in range(repeats):
            for threads, seconds in times.items():
                seconds.append(epoch(threads, os.path.join(work, f"load-{threads}-{i}")))
    finally:
        for spinner in spinners:
            spinner.kill()
    return {"busy_processes": busy, "epoch_seconds": times}


def measure(repo: str, suite: bool, quick: bool, busy: int = 0) -> dict:
    work = tempfile.mkdtemp(prefix="dcar-timings-")
    clone = os.path.join(work, "repo")
    subprocess.run(["git", "clone", "-q", repo, clone], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
    record = {"date": time.strftime("%Y-%m-%d"), "commit": commit, "machine": machine(), "pip_sources": pip_sources()}
    venv = os.path.join(clone, ".venv")
    start = time.time()
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bin_dir = os.path.join(venv, "bin")
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), VIRTUAL_ENV=venv)
    env.pop("PYTHONPATH", None)
    timed(["pip", "install", "-q", "-r", "requirements-dev.txt"], clone, env, os.path.join(work, "install.log"))
    record["setup_seconds"] = time.time() - start
    print(f"set-up: {duration(record['setup_seconds'])}", flush=True)
    if suite:
        elapsed, stdout = timed(["python", "-m", "pytest", "-q"], clone, env, os.path.join(work, "pytest.log"))
        record["suite"] = {"seconds": elapsed, "counts": pytest_counts(stdout)}
        print(f"tests: {duration(elapsed)}, {record['suite']['counts']}", flush=True)
    if quick:
        record["quick_start"] = quick_start(clone, env, work)
        print(f"quick start: {duration(record['quick_start']['seconds'])}", flush=True)
    if busy:
        record["threads_under_load"] = threads_under_load(clone, env, work, busy)
        print(f"one epoch beside {busy} busy processes: {record['threads_under_load']['epoch_seconds']}", flush=True)
    print(f"logs in {work}")
    return record


def readme_phrases(runs: list[dict]) -> dict[str, str]:
    """The phrases the README quotes, from every run recorded."""
    out = {"setup": span([r["setup_seconds"] for r in runs])}
    suites = [r["suite"] for r in runs if "suite" in r]
    if suites:  # the suite's time, not its count: a count goes stale with every new test
        out["suite"] = span([s["seconds"] for s in suites])
    quick = [r["quick_start"] for r in runs if "quick_start" in r]
    quick = [q for q in quick if q.get("configs") == quick[-1].get("configs")] if quick else []
    if quick:
        out["quick_start"] = span([q["seconds"] for q in quick])
        out["per_seed"] = span([s for q in quick for s in q["seed_seconds"].values()])
        m = quick[-1]["metrics"]
        out["result"] = ", ".join(f"{name.replace('_', ' ')} {m[name][0]:.2f} ± {m[name][1]:.2f}"
                                  for name in ("i2t_R@1", "t2i_R@1") if name in m)
    loads = [r["threads_under_load"] for r in runs if "threads_under_load" in r]
    if loads:
        last = loads[-1]
        out["threads"] = (f"{span(last['epoch_seconds']['1'])} with one thread, {span(last['epoch_seconds']['default'])} "
                          f"with the default threads, beside {last['busy_processes']} busy processes")
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=ROOT, help="the repository to clone (its committed HEAD)")
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "results", "bench_timings.json"))
    p.add_argument("--skip-suite", action="store_true")
    p.add_argument("--skip-quickstart", action="store_true")
    p.add_argument("--threads-under-load", type=int, default=0, metavar="N",
                   help="also time one epoch of the quick start's run beside N busy processes, default threads "
                        "against OMP_NUM_THREADS=1 (0: not measured)")
    a = p.parse_args(argv)
    record = measure(a.repo, not a.skip_suite, not a.skip_quickstart, a.threads_under_load)
    previous = {"runs": []}
    if os.path.isfile(a.json):
        with open(a.json, encoding="utf-8") as f:
            previous = json.load(f)
    runs = previous["runs"] + [record]
    result = {"command": "python tools/timings.py", "runs": runs, "readme": readme_phrases(runs)}
    with open(a.json, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result["readme"], indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
