"""Running ``train.py`` for the FDRDSynth benchmarks (``synthetic_benchmark``, ``tuning``,
``val_size``, ``dcar_choices``, ``loss_round``): one command line, the settings every run shares,
and one runner (:func:`resolve`) that takes each run's results from its finished folder, else from
its committed record (docs/results.md, "Run records"), else runs it in a worker process -- and
records every run it reads from a folder."""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

from methods import method

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DATASET_CONFIG = "configs/datasets/fdrd_synth.yaml"
VAL_IMAGES, QUICK_VAL_IMAGES = 2001, 6  # FDRDSynth val gallery per domain: the size docs/results/val_size.md chose


@dataclass(frozen=True)
class Job:
    """One ``train.py`` run of a study: its folder and command line; an evaluation of a trained
    model (``--eval-only --model-dir``) names the job that trains it."""

    out: str
    argv: tuple[str, ...]
    model: Job | None = None


@dataclass
class Resolved:
    """The results of a study's jobs, by folder: each job's ``results.json`` content or its record."""

    results: dict[str, dict]
    made: int  # runs trained or evaluated by this call
    reused: int  # runs found finished in their folders or in the records
    seconds: float  # the runs' own wall time, made now or before


class Identities:
    """Each job's resolved config and identity: ``reporting.identity.run_key`` of the config, and
    for an evaluation that key joined with its model's identity (the folder does not record which
    model it evaluated)."""

    def __init__(self) -> None:
        self.configs: dict[Job, object] = {}
        self.ids: dict[Job, str] = {}

    def __call__(self, job: Job) -> str:
        if job not in self.ids:
            from configuration import build_parser, cfg_from_args
            from reporting.identity import flatten, run_key

            with contextlib.chdir(ROOT):
                self.configs[job] = cfg_from_args(build_parser().parse_args(list(job.argv)))
            key = run_key(flatten(self.configs[job]))
            if job.model is not None:
                key = hashlib.sha256(f"{key}:{self(job.model)}".encode()).hexdigest()[:16]
            self.ids[job] = key
        return self.ids[job]


def finished_in_folder(job: Job, identity: Identities) -> bool:
    """Whether a training job's folder holds its finished run (``results.json`` of this very
    configuration, by train.py's own check); an evaluation's folder does not say which model it
    evaluated, so it is never taken as finished."""
    import run_folder

    identity(job)
    if job.model is not None or not os.path.isfile(os.path.join(job.out, "results.json")):
        return False
    try:
        run_folder.check_run_identity(identity.configs[job])
    except ValueError:  # another configuration: train.py itself says so
        return False
    return True


def resolve(jobs: list[Job], workers: int, env: dict, records: str | None, make: bool = True) -> Resolved:
    """The results of ``jobs``: from a finished run in the job's folder, else from its record in
    ``records``, else made by ``train.py`` (``workers`` processes at a time, in the given order;
    an unfinished folder resumes). An evaluation to make needs its model's folder, so a model known
    only from its record trains again. Each run read from a folder gets a record when it has none;
    one whose record differs is named (a rerun that does not reproduce its record). ``make`` False:
    a run that would have to be made stops the study with one line naming how many and the first."""
    from benchmarks.records import differences, load, read_record, record_of, run_seconds, write_record
    from plugins import default_cfg
    from reporting.identity import flatten

    identity = Identities()
    in_folder = {job for job in jobs if finished_in_folder(job, identity)}
    recorded = {job: rec for job in jobs if job not in in_folder and records
                and (rec := read_record(identity(job), records)) is not None}
    todo = [job for job in jobs if job not in in_folder and job not in recorded]
    models = [job.model for job in todo if job.model is not None]
    for model in dict.fromkeys(models):
        if model not in todo and not finished_in_folder(model, identity):
            todo.insert(0, model)
            recorded.pop(model, None)
    if todo and not make:
        where = f"in {records}" if records else "(no records folder: --quick keeps none unless --records is given)"
        print(f"ERROR: {len(todo)} of the study's runs have neither a finished folder nor a record {where} "
              f"(the first: {todo[0].out}); run the study without --from-records to make them", flush=True)
        raise SystemExit(2)
    defaults = flatten(default_cfg())

    def keep(job: Job) -> None:
        """Record a run read from its folder (none yet) or note where it differs from its record."""
        if not records:
            return
        results = load(job.out)
        record = record_of(results, defaults, run_seconds(job.out), identity(job))
        old = read_record(record["identity"], records)
        if old is None:
            write_record(record, records)
        elif found := differences(results, old):
            print(f"NOTE: {job.out} does not reproduce its record ({len(found)} differences: "
                  f"{'; '.join(found[:5])})", flush=True)

    for job in in_folder:
        print(f"done {os.path.relpath(job.out, ROOT)} (finished earlier, reused)", flush=True)
        keep(job)
    _run([j for j in todo if j.model is None], workers, env, keep)  # each run recorded as it finishes
    _run([j for j in todo if j.model is not None], workers, env, keep)
    results, seconds = {}, 0.0
    for job in dict.fromkeys([*jobs, *todo]):
        if job in recorded:
            results[job.out], seconds = recorded[job], seconds + recorded[job]["seconds"]
        else:
            results[job.out], seconds = load(job.out), seconds + run_seconds(job.out)
    return Resolved(results, len(todo), sum(job not in todo for job in jobs), seconds)


def _run(jobs: list[Job], workers: int, env: dict, finished: Callable[[Job], None]) -> None:
    """``train.py`` for each job, ``workers`` at a time, ``finished(job)`` after each; a failed run
    stops the study with its log's tail."""
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < workers:
            job = pending.pop(0)
            os.makedirs(job.out, exist_ok=True)
            log = open(os.path.join(job.out, "benchmark_stdout.txt"), "w", encoding="utf-8")
            proc = subprocess.Popen([sys.executable, "train.py", *job.argv], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            running.append((proc, job, log))
        time.sleep(0.5)
        for entry in list(running):
            proc, job, log = entry
            out_dir = job.out
            if proc.poll() is None:
                continue
            running.remove(entry)
            log.close()
            if proc.returncode:
                text = open(os.path.join(out_dir, "benchmark_stdout.txt"), encoding="utf-8").read()
                raise SystemExit(f"run {out_dir} failed (exit {proc.returncode}):\n{text[-3000:]}")
            finished(job)
            print(f"done {os.path.relpath(out_dir, ROOT)} ({len(pending)} waiting, {len(running)} running)", flush=True)


def backbone_tag(name: str) -> str:
    """A short digest of the backbone's weights file: runs made with other weights under the same
    name (a rebuilt ``synth-small``) are never reused."""
    from trainers.backbones import locate

    return locate(name).sha256[:10]


def run_settings(a: argparse.Namespace) -> tuple[dict, list[str]]:
    """The FDRDSynth keys and the ``train.py`` options every run of a benchmark shares: the
    backbone at its input size, the shots, the data seed (``a.quick``: the tiny setting, 3 shots and
    one epoch). Sets ``a.backbone_tag`` and, quick, ``a.shots``."""
    from trainers.backbones import load_clip

    resolution = load_clip(a.backbone).visual.input_resolution
    a.backbone_tag = backbone_tag(a.backbone)
    spec_keys = {"SEED": a.data_seed, "IMAGE_SIZE": resolution,
                 "VAL_IMAGES_PER_DOMAIN": QUICK_VAL_IMAGES if a.quick else VAL_IMAGES}
    if a.quick:
        spec_keys.update(NUM_DOMAINS=2, CLASSES_PER_DOMAIN=4, TRAIN_PER_CLASS=5, TEST_IMAGES_PER_DOMAIN=24)
        a.shots = 3
    common = ["MODEL.BACKBONE.NAME", a.backbone, "INPUT.SIZE", f"({resolution}, {resolution})", "DATASET.NUM_SHOTS",
              str(a.shots), *[x for k, v in spec_keys.items() for x in (f"DATASET.FDRD_SYNTH.{k}", str(v))],
              *getattr(a, "opts", [])]
    if a.quick:
        common += ["OPTIM.MAX_EPOCH", "1"]
    return spec_keys, common


def run_arguments(doc: str, seeds: list[int], runs: str, name: str, report: str | None = None) -> argparse.ArgumentParser:
    """The command line of a benchmark that trains on FDRDSynth: seeds, data seed, shots, workers,
    backbone, data and run folders, ``docs/<name>.md`` and ``docs/bench_<report or name>.json``, ``--quick``."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=seeds)
    p.add_argument("--data-seed", type=int, default=0, help="FDRDSynth generator seed (a fresh draw of the data)")
    p.add_argument("--shots", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="train.py processes at once (one CPU thread each)")
    p.add_argument("--backbone", default="synth-small")
    p.add_argument("--data", default=os.path.join(ROOT, "data"))
    p.add_argument("--runs", default=os.path.join(ROOT, "output", runs))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "results", f"{name}.md"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "results", f"bench_{report or name}.json"))
    p.add_argument("--quick", action="store_true", help="a tiny setting (what the tests exercise)")
    p.add_argument("--records", help="the run records read and written (default: the committed ones, "
                   "benchmarks/run_records/; with --quick none unless given)")
    p.add_argument("--from-records", action="store_true",
                   help="make no run: every result from a finished folder or a record (the report written again)")
    return p


def records_folder(a: argparse.Namespace) -> str | None:
    """The run records a benchmark reads and writes (docs/results.md, "Run records"): ``--records``,
    else the committed folder, except for ``--quick`` settings, whose runs are not kept."""
    from benchmarks.records import RECORDS_DIR

    return a.records or (None if a.quick else RECORDS_DIR)


def synth_config(trainer: str) -> str:
    """``trainer``'s config for the synthetic testbed."""
    return os.path.join(ROOT, "configs", "trainers", trainer, "synth.yaml")


def config_values(trainer: str, keys: list[str], opts: list[str] = ()) -> dict[str, object]:
    """The values ``keys`` take in ``trainer``'s synth config with ``opts`` merged, as ``train.py``
    resolves them."""
    from configuration import build_cfg

    with contextlib.chdir(ROOT):
        cfg = build_cfg([DATASET_CONFIG, synth_config(trainer)], opts, {"TRAINER.NAME": trainer})
    values = {}
    for key in keys:
        node = cfg
        for part in key.split("."):
            node = node[part]
        values[key] = node
    return values


def loss_key(trainer: str) -> str:
    """The config key of ``trainer``'s L_con direction (``TRAINER.<its node>.LOSS``)."""
    return f"TRAINER.{method(trainer).node}.LOSS"


def worker_env(workers: int) -> dict[str, str]:
    """The environment of the ``train.py`` workers: one CPU thread each when several share the cores."""
    return dict(os.environ, OMP_NUM_THREADS="1") if workers > 1 else dict(os.environ)


def write_report(a: argparse.Namespace, report: dict, text: str) -> None:
    """``report`` as JSON to ``a.json`` and its Markdown ``text`` to ``a.out`` (folders made as
    needed); the Markdown is printed too."""
    for path, content in ((a.json, json.dumps(report, indent=1)), (a.out, text)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content + "\n")
    print(text)
