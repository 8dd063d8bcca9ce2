"""Running ``train.py`` for the FDRDSynth studies: one command line, the settings every run shares,
and one runner (:func:`resolve`) that takes each run's results from its finished folder, else from a
finished run of the same identity another study made, else from its committed record
(docs/results.md, "Run records"), else runs it in a worker process -- and records every run it reads
from a folder."""
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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DATASET_CONFIG = "configs/datasets/fdrd_synth.yaml"
VAL_IMAGES, QUICK_VAL_IMAGES = 2001, 6  # FDRDSynth val gallery per domain: the size docs/results/val_size.md chose


# The synth configs' settings before the tuning round (docs/results/tuning.md): what the tuning's trial 0,
# the val-size study and every trial's learning-rate scale start from, whatever the configs say since. With
# each method's learning rate then (methods.py, ``untuned_lr``), 10 epochs and LOSS symmetric, and DCAR's
# keys below, they set every key the tuning searches (:func:`untuned`).
UNTUNED_DCAR = {"TRAINER.DCAR.CATE.LAMBDA": "1.0", "TRAINER.DCAR.CATE.ALPHA": "0.5",
                "DATASET.FDRD.NUM_CATEGORY_NEGATIVES": "4", "DATASET.FDRD.NUM_ATTRIBUTE_NEGATIVES": "1",
                "DATASET.FDRD.ATTRIBUTE_SWAPS": "lexicon", "DATASET.FDRD.ATTRIBUTE_LEXICON_EXTRA": "()",
                "DATASET.FDRD.ATTRIBUTE_WORDS": "1", "TRAINER.DCAR.CAA.AT_TEST": "False"}


def untuned(trainer: str) -> tuple[str, ...]:
    """``train.py`` options that put ``trainer``'s synth config back where it stood before the tuning."""
    keys = {"OPTIM.LR": method(trainer).untuned_lr, "OPTIM.MAX_EPOCH": "10", loss_key(trainer): "symmetric",
            **(UNTUNED_DCAR if trainer == "DCAR" else {})}
    return tuple(x for k, v in keys.items() for x in (k, v))


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
    runs: int  # the study's jobs
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


def finished_runs(root: str) -> dict[str, str]:
    """Every finished training run under ``root`` (a ``results.json`` that is not an evaluation's),
    by its identity: where a study finds a run another study made, without knowing its folder."""
    from reporting.identity import run_key

    found: dict[str, str] = {}
    for folder, _, files in sorted(os.walk(root)):
        if "results.json" not in files:
            continue
        try:
            with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
                results = json.load(f)
            if not results.get("eval_only"):
                found.setdefault(run_key(results["config"]), folder)
        except (OSError, ValueError, KeyError, TypeError):  # a damaged file is no run to reuse
            continue
    return found


def pointed(job: Job, model_folder: str) -> Job:
    """An evaluation job loading its model from ``model_folder`` (where that run was found)."""
    argv = list(job.argv)
    argv[argv.index("--model-dir") + 1] = model_folder
    return Job(job.out, tuple(argv), job.model)


def resolve(jobs: list[Job], workers: int, env: dict, records: str | None, make: bool = True,
            shared: str | None = None) -> Resolved:
    """The results of ``jobs``: from a finished run in the job's folder, else from a finished run of
    the same identity anywhere under ``shared`` (another study's), else from its record in
    ``records``, else made by ``train.py`` (``workers`` processes at a time, in the given order;
    an unfinished folder resumes). An evaluation to make needs its model's folder, so a model known
    only from its record trains again. Each run read from a folder gets a record when it has none;
    one whose record differs is named (a rerun that does not reproduce its record). ``make`` False:
    a run that would have to be made stops the study with one line naming how many and the first."""
    from benchmarks.harness.records import differences, load, read_record, record_of, run_seconds, write_record
    from plugins import default_cfg
    from reporting.identity import flatten

    identity = Identities()
    elsewhere = finished_runs(shared) if shared and os.path.isdir(shared) else {}

    def located(job: Job) -> str | None:
        """The folder holding ``job``'s finished run (an evaluation only in its own folder)."""
        if finished_in_folder(job, identity):
            return job.out
        return elsewhere.get(identity(job)) if job.model is None else None

    where = {job: folder for job in jobs if (folder := located(job))}
    recorded = {job: rec for job in jobs if job not in where and records
                and (rec := read_record(identity(job), records)) is not None}
    todo = [job for job in jobs if job not in where and job not in recorded]
    for model in dict.fromkeys(job.model for job in todo if job.model is not None):
        if model not in todo and model not in where:
            if folder := located(model):
                where[model] = folder
            else:
                todo.insert(0, model)
                recorded.pop(model, None)
    if todo and not make:
        place = f"in {records}" if records else "(no records folder: --quick keeps none unless --records is given)"
        print(f"ERROR: {len(todo)} of the study's runs have neither a finished folder nor a record {place} "
              f"(the first: {todo[0].out}); run the study without --from-records to make them", flush=True)
        raise SystemExit(2)
    defaults = flatten(default_cfg())
    read: dict[str, tuple[dict, float]] = {}  # job folder -> its results and wall time, read once

    def keep(job: Job) -> None:
        """Read a finished run from its folder; record it (none yet) or note where it differs from its record."""
        folder = where.get(job, job.out)
        read[job.out] = results, seconds = load(folder), run_seconds(folder)
        if not records:
            return
        record = record_of(results, defaults, seconds, identity(job))
        old = read_record(record["identity"], records)
        if old is None:
            write_record(record, records)
        elif found := differences(results, old):
            print(f"NOTE: {folder} does not reproduce its record ({len(found)} differences: "
                  f"{'; '.join(found[:5])})", flush=True)

    for job, folder in where.items():
        print(f"done {os.path.relpath(job.out, ROOT)} (finished earlier{'' if folder == job.out else ' in ' + folder}, "
              "reused)", flush=True)
        keep(job)
    _run([j for j in todo if j.model is None], workers, env, keep)  # each run recorded as it finishes
    _run([pointed(j, where[j.model]) if j.model in where else j for j in todo if j.model is not None], workers, env, keep)
    results, seconds = {}, 0.0
    for job in dict.fromkeys([*jobs, *todo]):
        results[job.out], own = (recorded[job], recorded[job]["seconds"]) if job in recorded else read[job.out]
        seconds += own
    return Resolved(results, len(jobs), len(todo), sum(job not in todo for job in jobs), seconds)


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
            if proc.poll() is None:
                continue
            running.remove(entry)
            log.close()
            if proc.returncode:
                text = open(os.path.join(job.out, "benchmark_stdout.txt"), encoding="utf-8").read()
                raise SystemExit(f"run {job.out} failed (exit {proc.returncode}):\n{text[-3000:]}")
            finished(job)
            print(f"done {os.path.relpath(job.out, ROOT)} ({len(pending)} waiting, {len(running)} running)", flush=True)


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


def study_runs(a: argparse.Namespace, jobs: list[Job]) -> Resolved:
    """:func:`resolve` with a study's command line (:func:`run_arguments`): its workers (one thread
    each), its records, ``--from-records``, and the finished runs of other studies beside its own
    runs folder."""
    start = time.time()
    got = resolve(jobs, a.workers, worker_env(a.workers), records_folder(a), not a.from_records,
                  shared=os.path.dirname(os.path.abspath(a.runs)))
    print(f"{got.made} runs made, {got.reused} reused, in {(time.time() - start) / 60:.1f} min", flush=True)
    return got


def records_folder(a: argparse.Namespace) -> str | None:
    """The run records a benchmark reads and writes (docs/results.md, "Run records"): ``--records``,
    else the committed folder, except for ``--quick`` settings, whose runs are not kept."""
    from benchmarks.harness.records import RECORDS_DIR

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


INVOCATION_ONLY = {"--from-records": 0, "--records": 1, "--workers": 1}  # options that change no figure, with their values


def command(name: str, argv: list[str]) -> str:
    """The command a report names: ``python -m benchmarks run NAME`` with the options that shape the
    study (not how it was invoked: workers, records, ``--from-records``), so a report regenerated
    from records names the command that made it."""
    kept, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
        elif arg in INVOCATION_ONLY:
            skip = INVOCATION_ONLY[arg]
        else:
            kept.append(arg)
    return " ".join(["python -m benchmarks run", name, *kept])


def publish(a: argparse.Namespace, name: str, argv: list[str], report: dict, runs: list[Resolved],
            markdown: Callable[[dict], str]) -> None:
    """Write the study's report with what stands behind it: its runs (how many, their own wall
    time summed) and the command that makes it (:func:`command`)."""
    report.update(runs=sum(r.runs for r in runs), runs_time_s=sum(r.seconds for r in runs), command=command(name, argv))
    write_report(a, report, markdown(report))


def write_report(a: argparse.Namespace, report: dict, text: str) -> None:
    """``report`` as JSON to ``a.json`` and its Markdown ``text`` to ``a.out`` (folders made as
    needed); the Markdown is printed too."""
    for path, content in ((a.json, json.dumps(report, indent=1)), (a.out, text)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content + "\n")
    print(text)
