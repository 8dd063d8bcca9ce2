"""The shell entry points: reproduce_table.sh end to end (tiny preset), and main.sh's
finished/unfinished seed handling."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from methods import trainers
from tests.dcar_helpers import small_synth_opts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = " ".join(small_synth_opts(DATASET__FDRD_SYNTH__NUM_DOMAINS=3, DATASET__FDRD_SYNTH__CLASSES_PER_DOMAIN=4,
                                  DATASET__FDRD_SYNTH__TRAIN_PER_CLASS=3, DATASET__FDRD_SYNTH__TEST_IMAGES_PER_DOMAIN=9,
                                  OPTIM__MAX_EPOCH=1)).replace("(32, 32)", "(32,32)")


def _env(tmp_path, **extra):
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, DATA=str(tmp_path / "data"), **extra)


@pytest.mark.slow
def test_reproduce_table_tiny(tmp_path, tiny_clip_files):
    work = tmp_path / "repo"
    # outputs stay out of the checkout; the copy leaves out the virtual environment (GBs) and git's store
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "output", "__pycache__"))
    env = _env(tmp_path, PRESET="synth", SHOTS="1", SEEDS="1",
               OPTS=f"MODEL.BACKBONE.NAME {tiny_clip_files['described']} {SMALL}")
    res = subprocess.run(["bash", "scripts/reproduce_table.sh", "fdrd_synth"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = (work / "output" / "table_synth_1shots" / "table.md").read_text().splitlines()
    header = [c.strip() for c in table[0].split("|")[1:-1]]
    methods = trainers(in_table=True)  # every column of the table, in methods.py's order
    assert header == ["domain", "K"] + [f"i2t {m}" for m in methods] + [f"t2i {m}" for m in methods]
    assert sum(line.startswith("| AVG") for line in table) == 3 and "Columns (runs averaged in each)" in "\n".join(table)
    last_avg = [line for line in table if line.startswith("| AVG")][-1]
    assert "-" not in [c.strip() for c in last_avg.split("|")[3:-1]]  # every method has every domain

    again = subprocess.run(["bash", "scripts/common/main.sh", "DCAR", "fdrd_synth", "1",
                            "MODEL.BACKBONE.NAME", tiny_clip_files["described"], *SMALL.split()],
                           cwd=work, env=dict(env, OUTPUT_ROOT="output/table_synth_1shots"),  # CFG: synth by default
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("Finished: ") == 1, again.stdout[-2000:]

    evaluated = subprocess.run(["bash", "scripts/common/eval.sh", "DCAR", "fdrd_synth", "1",
                                "MODEL.BACKBONE.NAME", tiny_clip_files["described"], *SMALL.split()],
                               cwd=work, env=dict(env, OUTPUT_ROOT="output/table_synth_1shots"),
                               capture_output=True, text=True, timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout[-2000:] + evaluated.stderr[-2000:]
    summary = "Summary of directory: output/table_synth_1shots/evaluation/DCAR/synth_1shots/fdrd_synth (1 run(s)"
    assert summary in evaluated.stdout and "% (n = 1)" in evaluated.stdout  # one seed: its value, no spread
    res = json.loads((work / "output/table_synth_1shots/evaluation/DCAR/synth_1shots/fdrd_synth/seed1/results.json").read_text())
    assert res["eval_only"] and res["num_shots"] == 1  # the model's shots
    no_cfg = subprocess.run(["bash", "scripts/common/eval.sh", "FullFineTune", "fdrd_caltech101", "1"], cwd=work,
                            env=env, capture_output=True, text=True, timeout=60)
    assert no_cfg.returncode == 2 and "ERROR: set CFG to a config name under configs/trainers/FullFineTune/" in no_cfg.stderr
