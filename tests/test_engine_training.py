"""The embedded engine end to end with a throwaway trainer: training, Dassl-named checkpoints,
atomic writes, resume equivalence and seeding."""
import os

import pytest
import torch

import engine
from engine.fixes import checkpoint as ckpt
from tests.helpers import killed_after_epoch, toy_cfg


def _train(cfg, seed=1):
    engine.set_random_seed(seed)
    trainer = engine.build_trainer(cfg)
    trainer.train()
    return trainer


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_toy_trainer_trains_and_writes_dassl_checkpoints(tmp_path):
    cfg = toy_cfg(tmp_path)
    cfg.freeze()
    trainer = _train(cfg)
    model_dir = os.path.join(cfg.OUTPUT_DIR, "model")
    # Only the last epoch is kept with CHECKPOINT_FREQ 0 (resume points are replaced).
    assert sorted(os.listdir(model_dir)) == ["checkpoint", "model.pth.tar-4"]
    with open(os.path.join(model_dir, "checkpoint")) as f:
        assert f.read() == "model.pth.tar-4\n"
    state = torch.load(os.path.join(model_dir, "model.pth.tar-4"), weights_only=True)
    assert {"state_dict", "epoch", "optimizer", "scheduler", "val_result"} <= set(state)
    assert state["epoch"] == 4 and state["val_result"] is None
    assert set(state["state_dict"]) == {"1.weight", "1.bias"}
    assert os.path.isdir(os.path.join(cfg.OUTPUT_DIR, "tensorboard"))
    assert trainer.test() > 50.0  # learns the dominant colour


def test_checkpoint_freq_keeps_periodic_files(tmp_path):
    cfg = toy_cfg(tmp_path, **{"TRAIN.CHECKPOINT_FREQ": 2})
    cfg.freeze()
    _train(cfg)
    assert sorted(os.listdir(os.path.join(cfg.OUTPUT_DIR, "model"))) == ["checkpoint", "model.pth.tar-2", "model.pth.tar-4"]


def test_best_val_saves_model_best_and_deploys_it(tmp_path, capsys):
    cfg = toy_cfg(tmp_path, **{"TEST.FINAL_MODEL": "best_val"})
    cfg.freeze()
    _train(cfg)
    files = os.listdir(os.path.join(cfg.OUTPUT_DIR, "model"))
    assert "model-best.pth.tar" in files
    best = torch.load(os.path.join(cfg.OUTPUT_DIR, "model", "model-best.pth.tar"), weights_only=True)
    assert isinstance(best["val_result"], float)
    assert "Deploy the model with the best val performance" in capsys.readouterr().out


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    full_cfg = toy_cfg(tmp_path / "full")
    full_cfg.freeze()
    full = _train(full_cfg)
    full_acc = full.test()

    cfg = toy_cfg(tmp_path / "killed")
    cfg.freeze()
    with killed_after_epoch(type(full), 2):
        _train(cfg)
    assert sorted(os.listdir(os.path.join(cfg.OUTPUT_DIR, "model"))) == ["checkpoint", "model.pth.tar-2"]

    resumed = _train(cfg, seed=123)  # a different seed: everything must come from the checkpoint
    assert resumed.start_epoch == 2
    for k, v in _weights(full).items():
        assert torch.equal(v, _weights(resumed)[k]), k
    assert resumed.test() == full_acc
    assert resumed.get_current_lr() == full.get_current_lr()


def test_resume_from_explicit_dir_and_finished_run(tmp_path):
    cfg = toy_cfg(tmp_path)
    cfg.freeze()
    first = _train(cfg)
    cfg2 = toy_cfg(tmp_path, OUTPUT_DIR=str(tmp_path / "again"), RESUME=cfg.OUTPUT_DIR)
    cfg2.freeze()
    again = _train(cfg2, seed=7)
    assert again.start_epoch == 4  # finished: nothing to train, evaluates again
    assert torch.equal(_weights(first)["1.weight"], _weights(again)["1.weight"])


def test_crash_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    cfg = toy_cfg(tmp_path, **{"OPTIM.MAX_EPOCH": 2})
    cfg.freeze()
    trainer = _train(cfg)
    model_dir = os.path.join(cfg.OUTPUT_DIR, "model")
    before = torch.load(os.path.join(model_dir, "model.pth.tar-2"), weights_only=True)

    def torn_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        trainer.save_model(1, cfg.OUTPUT_DIR)  # rewrite epoch 2's file
    monkeypatch.undo()
    assert sorted(os.listdir(model_dir)) == ["checkpoint", "model.pth.tar-2"]  # no temp file left behind
    after = torch.load(os.path.join(model_dir, "model.pth.tar-2"), weights_only=True)
    assert torch.equal(before["state_dict"]["1.weight"], after["state_dict"]["1.weight"])


def test_load_model_for_eval_and_mismatch_error(tmp_path):
    cfg = toy_cfg(tmp_path)
    cfg.freeze()
    trained = _train(cfg)
    fresh = engine.build_trainer(cfg)
    fresh.load_model(cfg.OUTPUT_DIR)  # no best model: the latest checkpoint
    assert fresh.test() == trained.test()
    fresh.load_model(cfg.OUTPUT_DIR, epoch=4)
    with pytest.raises(FileNotFoundError, match="Model not found"):
        fresh.load_model(cfg.OUTPUT_DIR, epoch=3)
    other = toy_cfg(tmp_path, **{"INPUT.SIZE": (6, 6)})
    other.freeze()
    with pytest.raises(engine.CheckpointMismatchError, match="does not match the model"):
        engine.build_trainer(other).load_model(cfg.OUTPUT_DIR)


def test_same_seed_same_run_different_seed_different_run(tmp_path):
    cfgs = []
    for name in ("a", "b", "c"):
        c = toy_cfg(tmp_path / name)
        c.freeze()
        cfgs.append(c)
    a, b, c = _train(cfgs[0], seed=0), _train(cfgs[1], seed=0), _train(cfgs[2], seed=1)
    assert torch.equal(_weights(a)["1.weight"], _weights(b)["1.weight"])
    assert not torch.equal(_weights(a)["1.weight"], _weights(c)["1.weight"])


def test_set_random_seed_covers_python_numpy_torch():
    import random

    import numpy as np

    draws = []
    for _ in range(2):
        engine.set_random_seed(0)
        draws.append((random.random(), float(np.random.rand()), float(torch.rand(1))))
    assert draws[0] == draws[1]
