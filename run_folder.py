"""The run folder of ``train.py``: one run per folder, never mixed with another configuration.

A lock file names the process writing the folder (a second run into it is refused); a folder
holding a run -- a checkpoint or ``results.json`` -- is continued only with the same
results-changing configuration (:mod:`reporting.identity`); a finished one is left alone; the
temporary files of a killed run are removed when it is continued; ``log.txt`` is the current
attempt's (docs/training.md; docs/engine.md, "Writes and a full disk" to "Faults fixed under both engines").
"""
from __future__ import annotations

import os
import sys
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import engine
from engine import distributed as dist
from engine.locking import locked
from engine.writes import is_tmp_name, write_atomic
from plugins import default_cfg
from reporting.cli import BAD_INPUT
from reporting.identity import differences, flatten, saved_config

RUN_LOCK = ".run.lock"


@contextmanager
def claimed(cfg: Any, eval_only: bool) -> Iterator[bool]:
    """Hold ``cfg.OUTPUT_DIR`` for this run (rank 0 owns it: lock, identity check, log); yields
    whether there is work to do -- False for a finished run of this configuration, said so. A
    folder another process holds, or one holding a run of another configuration, is a ValueError
    (on rank 0; the other ranks exit with status 2)."""
    with ExitStack() as stack:
        problem = None
        if dist.is_main():
            try:
                if os.path.exists(cfg.OUTPUT_DIR) and not os.path.isdir(cfg.OUTPUT_DIR):
                    raise ValueError(f"--output-dir {cfg.OUTPUT_DIR} is an existing file, not a folder: give a folder "
                                     "for the run (it is created if absent)")
                stack.enter_context(locked(
                    os.path.join(cfg.OUTPUT_DIR, RUN_LOCK), f"train.py --trainer {cfg.TRAINER.NAME} --seed {cfg.SEED}",
                    wait=False, how_to="Wait for that run to end or use another --output-dir (if no such process "
                                       "runs, delete the lock file)."))
                check_run_identity(cfg)
            except ValueError as e:
                problem = e
        if dist.broadcast_int(problem is not None):
            if problem is not None:
                raise problem
            raise SystemExit(BAD_INPUT)  # rank 0 reports why
        if not eval_only and os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "results.json")):
            print(f"Finished: {cfg.OUTPUT_DIR} has results.json from a run with this configuration "
                  "(use another --output-dir, or delete the folder, to run it again)")
            yield False
            return
        if dist.is_main():
            engine.setup_logger(cfg.OUTPUT_DIR)
            remove_unfinished_writes(cfg.OUTPUT_DIR)
        else:
            quiet_follower()
        yield True


def has_run(directory: str) -> bool:
    """Whether ``directory`` holds a run's state: results, or a checkpoint to resume from."""
    if os.path.isfile(os.path.join(directory, "results.json")):
        return True
    return os.path.isdir(directory) and any(
        os.path.isfile(os.path.join(directory, d, "checkpoint")) for d in os.listdir(directory))


def check_run_identity(cfg: Any) -> None:
    """Refuse to continue a run whose saved configuration differs in a key that changes results."""
    for directory in dict.fromkeys(d for d in (cfg.RESUME, cfg.OUTPUT_DIR) if d):
        saved_path, saved = os.path.join(directory, "config.yaml"), saved_config(directory)
        if saved is None or not has_run(directory):
            continue
        diffs = differences(saved, flatten(cfg), defaults=flatten(default_cfg()))
        if diffs:
            raise ValueError(
                f"{directory} holds a run with another configuration ({'; '.join(diffs)}); continuing it would mix "
                f"the two. Start fresh with another --output-dir (or delete {directory}), or rerun with the settings "
                f"saved in {saved_path}")


def model_config_differences(cfg: Any, model_dir: str) -> str:
    """The model-defining keys (``MODEL.*``, ``TRAINER.*``) in which ``cfg`` differs from the
    config saved beside a checkpoint, as a sentence (empty when there is no saved config)."""
    path, saved = os.path.join(model_dir, "config.yaml"), saved_config(model_dir)
    if saved is None:
        return ""
    saved = {k: v for k, v in saved.items() if k.startswith(("MODEL.", "TRAINER."))}
    diffs = differences(saved, {k: v for k, v in flatten(cfg).items() if k.startswith(("MODEL.", "TRAINER."))})
    return f" Differences from {path}: {'; '.join(diffs)}." if diffs else ""


def remove_unfinished_writes(directory: str) -> None:
    """Delete temporary files of atomic writes that a killed run left behind (this process holds
    the folder's lock, so no write is in progress)."""
    leftovers = [os.path.join(d, f) for d, _, files in os.walk(directory) for f in files if is_tmp_name(f)]
    for path in leftovers:
        os.remove(path)
    if leftovers:
        print(f"Removed {len(leftovers)} unfinished temporary file(s) left by an earlier run: {', '.join(leftovers[:3])}")


def write_run_info(cfg: Any) -> None:
    """Save the resolved config and the environment report next to the log."""
    write_atomic(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg.dump())
    env = engine.collect_env_info()
    b = cfg.MODEL.BACKBONE
    weights = f"backbone: {b.NAME} from {b.SOURCE}, sha256 {b.SHA256}, activation {b.ACTIVATION}"
    write_atomic(os.path.join(cfg.OUTPUT_DIR, "env.txt"), f"engine: {engine.ENGINE_DESCRIPTION}\n{weights}\n{env}\n")
    print(weights)
    print("Collecting env info ...\n** System info **\n" + env + "\n")


def quiet_follower() -> None:
    """Ranks other than 0 print nothing and draw no progress bars (errors still reach stderr)."""
    os.environ["TQDM_DISABLE"] = "1"
    sys.stdout = open(os.devnull, "w", encoding="utf-8")
