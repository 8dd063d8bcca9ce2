"""torchrun with 2 gloo processes on CPU against one process with the same global batch:
same weights, losses and metrics; rank 0 alone writes; resume works."""
import json
import os
import subprocess
import sys

import pytest
import torch

from engine.fixes.checkpoint import epoch_file, load_checkpoint, write_pointer
from tests.dcar_helpers import config_file, small_synth_opts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = small_synth_opts(DATALOADER__NUM_WORKERS=0, OPTIM__MAX_EPOCH=2, TRAIN__CHECKPOINT_FREQ=1,
                         INPUT__TRANSFORMS="['normalize']")
CONFIGS = {t: config_file(t) for t in ("DCAR", "CoOp")}


def _run(tmp_path, ckpt, trainer, out, procs):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"] \
        if procs > 1 else [sys.executable]
    cmd = [*launcher, "train.py", "--root", str(tmp_path / "data"), "--trainer", trainer, "--seed", "1",
           "--dataset-config-file", "configs/datasets/fdrd_synth.yaml", "--config-file", CONFIGS[trainer],
           "--output-dir", str(out), "MODEL.BACKBONE.NAME", ckpt, *SMALL]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def _weights(out, name, epoch=2):
    return load_checkpoint(os.path.join(out, name, epoch_file(epoch)))["state_dict"]


def _close(a, b):
    return all(torch.allclose(a[k], b[k], atol=1e-6, rtol=1e-5) for k in a)


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
@pytest.mark.parametrize("trainer", ["DCAR", "CoOp"])
def test_two_processes_match_one_with_the_same_global_batch(tmp_path, tiny_clip_files, trainer):
    ckpt = tiny_clip_files["described"]
    one, two = tmp_path / "one", tmp_path / "two"
    _run(tmp_path, ckpt, trainer, one, 1)
    _run(tmp_path, ckpt, trainer, two, 2)
    assert _close(_weights(one, "prompt_learner"), _weights(two, "prompt_learner"))
    curves_one, curves_two = _json(one / "curves.json"), _json(two / "curves.json")
    assert [c["loss"] for c in curves_one] == pytest.approx([c["loss"] for c in curves_two], rel=1e-5)
    assert [c["val_rsum"] for c in curves_one] == [c["val_rsum"] for c in curves_two]
    assert _json(one / "results.json")["metrics"] == pytest.approx(_json(two / "results.json")["metrics"])
    log = (two / "log.txt").read_text()
    assert "Distributed: 2 processes; global batch 8" in log and log.count("Engine: ") == 1  # rank 0 alone logs
    assert not [f for f in os.listdir(two) if f.startswith("log.txt-")]
    if trainer == "CoOp":  # frozen image tower, fixed transform: features computed once, sharded
        assert "computed once and reused every epoch" in log
    if trainer != "DCAR":
        return
    # resume: drop epoch 2 and point at epoch 1, as a run killed after epoch 1 leaves it
    model_dir = two / "prompt_learner"
    os.remove(model_dir / epoch_file(2))
    write_pointer(str(model_dir), epoch_file(1))
    os.remove(two / "results.json")
    _run(tmp_path, ckpt, trainer, two, 2)
    assert "(will resume training)" in (two / "log.txt").read_text()  # the current attempt's log
    assert len(list(two.glob("log.txt-*"))) == 1  # the first attempt's, kept
    assert _close(_weights(one, "prompt_learner"), _weights(two, "prompt_learner"))
    assert _json(two / "results.json")["metrics"] == pytest.approx(_json(one / "results.json")["metrics"])
