"""CoOp, CLIP-Adapter and MaPLe for retrieval on a tiny CLIP."""
import copy

import pytest
import torch

from tests.dcar_helpers import build, reloaded_test, steps_on_one_batch, trainable, trainer_cfg

OWN_PARAMS = {
    "CoOp": {"prompts.ctx"},
    "MaPLe": {"prompts.ctx", "prompts.deep_text.0", "prompts.deep_text.1"}
             | {f"prompts.couplings.{i}.{w}" for i in range(3) for w in ("weight", "bias")},
    "CLIP_Adapter": {"image.fc1.weight", "image.fc2.weight"},
}


@pytest.mark.parametrize("name", sorted(OWN_PARAMS))
def test_trains_only_its_own_parameters(tmp_path, ckpt, name):
    t = build(trainer_cfg(tmp_path, ckpt, name))
    frozen = copy.deepcopy(t.model.clip.state_dict())
    assert {n for n, p in trainable(t).named_parameters() if p.requires_grad} == OWN_PARAMS[name]
    assert not any(p.requires_grad for p in t.model.clip.parameters())
    before = {n: p.detach().clone() for n, p in trainable(t).named_parameters()}
    steps_on_one_batch(t, 2)
    assert all(not torch.equal(before[n], p) for n, p in trainable(t).named_parameters()), "every own parameter moves"
    assert all(torch.equal(frozen[k], v) for k, v in t.model.clip.state_dict().items())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(OWN_PARAMS))
def test_reloads_to_identical_metrics(tmp_path, ckpt, name):
    cfg = trainer_cfg(tmp_path, ckpt, name, OPTIM__MAX_EPOCH=1)
    cfg.freeze()
    t = build(cfg)
    t.train()
    assert t.test() == reloaded_test(cfg)


def test_maple_equals_dcar_with_its_extra_components_off(tmp_path, ckpt):
    maple = build(trainer_cfg(tmp_path, ckpt, "MaPLe"))
    same = {"OPTIM__LR": maple.cfg.OPTIM.LR, "OPTIM__MAX_EPOCH": maple.cfg.OPTIM.MAX_EPOCH,  # tuned apart on val
            "TRAINER__DCAR__LOSS": maple.cfg.TRAINER.MAPLE.LOSS}
    dcar = build(trainer_cfg(tmp_path, ckpt, "DCAR", TRAINER__DCAR__DTR__ENABLED=False, TRAINER__DCAR__CATE__LAMBDA=0.0, **same))
    assert steps_on_one_batch(maple, 3) == steps_on_one_batch(dcar, 3)
    for (n1, p1), (n2, p2) in zip(trainable(maple).named_parameters(), trainable(dcar).named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)


def test_coop_context_from_init_and_rejected_class_options(tmp_path, ckpt):
    t = build(trainer_cfg(tmp_path, ckpt, "CoOp", TRAINER__COOP__CTX_INIT="a photo of a"))
    assert t.model.prompts.ctx.shape[0] == 4  # "a photo of a" is four tokens, as in CoOp
    with pytest.raises(ValueError, match="CSC True .* no meaning for caption retrieval"):
        build(trainer_cfg(tmp_path, ckpt, "CoOp", TRAINER__COOP__CSC=True))
    with pytest.raises(ValueError, match="CLASS_TOKEN_POSITION 'middle'"):
        build(trainer_cfg(tmp_path, ckpt, "CoOp", TRAINER__COOP__CLASS_TOKEN_POSITION="middle"))


@pytest.mark.parametrize("name,node", [("CoOp", "COOP"), ("MaPLe", "MAPLE"), ("CLIP_Adapter", "CLIP_ADAPTER")])
def test_one_directional_loss_switch(tmp_path, ckpt, name, node):
    sym = steps_on_one_batch(build(trainer_cfg(tmp_path, ckpt, name, **{f"TRAINER__{node}__LOSS": "symmetric"})))
    i2t = steps_on_one_batch(build(trainer_cfg(tmp_path, ckpt, name, **{f"TRAINER__{node}__LOSS": "i2t"})))
    assert sym != i2t


def test_clip_adapter_text_side_option(tmp_path, ckpt):
    t = build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter", TRAINER__CLIP_ADAPTER__TEXT_ADAPTER=True))
    assert {"text.fc1.weight", "text.fc2.weight"} <= {n for n, _ in trainable(t).named_parameters()}


def test_baselines_stand_beside_dcar_not_beneath_it():
    from trainers.base import RetrievalTrainer
    from trainers.coop import CoOp
    from trainers.dcar import DCAR
    from trainers.maple import MaPLe

    for trainer in (CoOp, MaPLe, DCAR):  # each stands directly on the one base; none on another
        assert trainer.__bases__ == (RetrievalTrainer,)
