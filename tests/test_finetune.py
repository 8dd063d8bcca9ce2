"""FullFineTune (trainers/finetune.py): every CLIP weight of both towers trains, the temperature
stays CLIP's, and a trained run reloads and resumes exactly, on a tiny CLIP."""
import copy

import pytest
import torch

from tests.dcar_helpers import (
    build,
    config_file,
    dcar_cfg,
    reloaded_test,
    resumed_equals_uninterrupted,
    steps_on_one_batch,
    trainable,
)


def _cfg(tmp_path, ckpt, **opts):
    return dcar_cfg(tmp_path, ckpt, trainer="FullFineTune", config=config_file("FullFineTune"), **opts)


def test_both_towers_train_and_the_temperature_does_not(tmp_path, ckpt):
    # Fails if a tower is left frozen (FROZEN_CLIP True, or one tower's weights not registered)
    # or if the temperature trains with the weights.
    t = build(_cfg(tmp_path, ckpt))
    clip = t.model.clip
    assert {n for n, p in clip.named_parameters() if not p.requires_grad} == {"logit_scale"}
    registered = {id(p) for p in trainable(t).parameters()}
    assert all(id(p) in registered for p in clip.parameters()), "the checkpoint holds every CLIP weight"
    before = copy.deepcopy(clip.state_dict())
    steps_on_one_batch(t, 2)
    after = clip.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert "logit_scale" not in moved
    assert any(k.startswith("visual.") for k in moved) and any(k.startswith("transformer.") for k in moved)


@pytest.mark.slow
def test_reloads_to_identical_metrics(tmp_path, ckpt):
    cfg = _cfg(tmp_path, ckpt, OPTIM__MAX_EPOCH=1)
    cfg.freeze()
    t = build(cfg)
    t.train()
    assert t.test() == reloaded_test(cfg)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, ckpt):
    resumed_equals_uninterrupted(lambda name: _cfg(tmp_path / name, ckpt, OPTIM__MAX_EPOCH=2))
