"""LR schedules: Dassl's cosine with constant/linear warm-up, values and resume behaviour."""
import io
import math

import pytest
import torch

import engine
from engine.fixes.lr_scheduler import WarmupLR


def _optim_cfg(**kw):
    cfg = engine.get_cfg_default().OPTIM
    cfg.NAME = "sgd"
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def _lrs(optim_cfg, epochs):
    opt = engine.build_optimizer([torch.nn.Parameter(torch.zeros(1))], optim_cfg)
    sched = engine.build_lr_scheduler(opt, optim_cfg)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_maple_cosine_constant_warmup_matches_dassl_table():
    # docs/engine.md, "Optimisers and schedules", MaPLe vit_b16_c2_ep5_batch4_2ctx: verified Dassl values.
    cfg = _optim_cfg(LR=0.0035, MAX_EPOCH=5, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    assert _lrs(cfg, 5) == pytest.approx([1e-5, 0.0035, 0.0031658, 0.0022908, 0.0012092], abs=5e-8)


def test_cosine_constant_warmup_formula_long_schedule():
    lr, T = 0.002, 50
    cfg = _optim_cfg(LR=lr, MAX_EPOCH=T, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    expected = [1e-5] + [lr * (1 + math.cos(math.pi * (k - 1) / T)) / 2 for k in range(1, T)]
    got = _lrs(cfg, T)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[-1] == pytest.approx(7.885e-6, rel=1e-3)  # CoOp vit_b16_ep50 last value in the table


def test_linear_warmup_values():
    lr, T, W = 0.01, 6, 3
    cfg = _optim_cfg(LR=lr, MAX_EPOCH=T, LR_SCHEDULER="cosine", WARMUP_EPOCH=W, WARMUP_TYPE="linear", WARMUP_MIN_LR=1e-4)
    got = _lrs(cfg, T)
    # step 0: min lr; steps 1..W-1: lr*k/W; step W: successor's first lr (base); then cosine continues.
    assert got[:3] == pytest.approx([1e-4, lr / 3, 2 * lr / 3])
    assert got[3] == pytest.approx(lr)
    assert got[4] == pytest.approx(lr * (1 + math.cos(math.pi / T)) / 2)


def test_no_recount_starts_successor_at_warmup_epoch():
    lr, T = 0.01, 4
    cfg = _optim_cfg(LR=lr, MAX_EPOCH=T, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_RECOUNT=False)
    got = _lrs(cfg, 3)
    assert got[0] == pytest.approx(1e-5)
    assert got[1] == pytest.approx(lr)
    # The successor jumps to last_epoch 2 from the base lr through torch's recursive cosine
    # update, exactly as under Dassl (which uses the same torch scheduler the same way).
    ratio = (1 + math.cos(math.pi * 2 / T)) / (1 + math.cos(math.pi * 1 / T))
    assert got[2] == pytest.approx(lr * ratio)


def test_single_and_multi_step():
    single = _optim_cfg(LR=1.0, MAX_EPOCH=4, LR_SCHEDULER="single_step", STEPSIZE=(2,), GAMMA=0.1)
    assert _lrs(single, 4) == pytest.approx([1, 1, 0.1, 0.1])
    multi = _optim_cfg(LR=1.0, LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), GAMMA=0.5)
    assert _lrs(multi, 4) == pytest.approx([1, 0.5, 0.5, 0.25])


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="OPTIM.LR_SCHEDULER"):
        _lrs(_optim_cfg(LR_SCHEDULER="poly"), 1)
    with pytest.raises(ValueError, match="OPTIM.WARMUP_TYPE"):
        _lrs(_optim_cfg(LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="exp"), 1)
    with pytest.raises(ValueError, match="lamb"):
        engine.build_optimizer([torch.nn.Parameter(torch.zeros(1))], _optim_cfg(NAME="lamb"))


def test_resume_restores_live_schedule_and_loads_weights_only():
    """Dassl's warm-up resume froze the lr (docs/engine.md, "Faults fixed under both engines", item 3);
    ours continues on the live optimiser."""
    cfg = _optim_cfg(LR=0.0035, MAX_EPOCH=5, LR_SCHEDULER="cosine", WARMUP_EPOCH=1, WARMUP_TYPE="constant")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = engine.build_optimizer([p], cfg)
    sched = engine.build_lr_scheduler(opt, cfg)
    for _ in range(2):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)  # no pickled scheduler objects inside

    p2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = engine.build_optimizer([p2], cfg)
    sched2 = engine.build_lr_scheduler(opt2, cfg)
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert isinstance(sched2, WarmupLR)
    resumed = []
    for _ in range(3):
        resumed.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert resumed == pytest.approx([0.0031658, 0.0022908, 0.0012092], abs=5e-8)
