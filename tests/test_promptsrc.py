"""PromptSRC (trainers/promptsrc.py): the aggregation weights and the aggregate by hand, each
self-regulation term by hand and switched off by its weight, independent (uncoupled) prompts,
the frozen targets, and the trainer on a tiny run."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.dcar_helpers import build, config_file, dcar_cfg, reloaded_test, resumed_equals_uninterrupted
from tests.helpers import tiny_clip_model
from trainers.model import PromptedCLIP
from trainers.prompts import DualPromptLearner
from trainers.promptsrc import GaussianAggregation, frozen_text_targets, gaussian_weights, self_regulation


def _cfg(tmp_path, ckpt, **opts):
    return dcar_cfg(tmp_path, ckpt, trainer="PromptSRC", config=config_file("PromptSRC"), **opts)


def test_gaussian_weights_by_hand():
    e = math.exp(-0.5)
    assert gaussian_weights(3, 2.0, 1.0) == pytest.approx([e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)])
    late = gaussian_weights(10, 6.0, 6.0)
    assert sum(late) == pytest.approx(1.0) and late.index(max(late)) == 5  # epoch 6 (1-based) weighs most
    with pytest.raises(ValueError, match="GPA_STD must be > 0"):
        gaussian_weights(3, 2.0, 0.0)


def test_the_aggregate_is_the_weighted_sum_of_the_epochs_prompts_and_is_saved():
    prompts = nn.ParameterList([nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(1, 3))])
    gpa = GaussianAggregation(prompts)
    for weight, value in ((0.25, 1.0), (0.75, 3.0)):
        with torch.no_grad():
            for p in prompts:
                p.fill_(value)
        gpa.add(prompts, weight)
    gpa.load_into(prompts)
    assert all(torch.equal(p, torch.full_like(p, 0.25 * 1.0 + 0.75 * 3.0)) for p in prompts)
    assert set(gpa.state_dict()) == {"sum0", "sum1"}  # in the checkpoint: a resumed run keeps its sum


def _pair(seed, n=4, d=6):
    torch.manual_seed(seed)
    return torch.randn(n, d), torch.randn(n, d)


def test_each_self_regulation_term_by_hand():
    (img, txt), (fimg, ftxt) = _pair(0), _pair(1)
    got = self_regulation(img, txt, fimg, ftxt, 10.0, 2.0, 3.0, 0.5)
    zi, zt, fi, ft = (x / x.norm(dim=-1, keepdim=True) for x in (img, txt, fimg, ftxt))
    assert got["l1_image"] == pytest.approx(2.0 * (zi - fi).abs().mean().item(), rel=1e-5)
    assert got["l1_text"] == pytest.approx(3.0 * (zt - ft).abs().mean().item(), rel=1e-5)

    def kl(frozen, prompted):  # KL(softmax(frozen) || softmax(prompted)), summed, over the number of logits
        p, q = frozen.softmax(1), prompted.softmax(1)
        return (p * (p.log() - q.log())).sum() / p.numel()

    logits, frozen = 10.0 * zi @ zt.T, 10.0 * fi @ ft.T
    want = 0.5 * (kl(frozen, logits) + kl(frozen.T, logits.T)) / 2
    reverse = 0.5 * (kl(logits, frozen) + kl(logits.T, frozen.T)) / 2
    assert got["kl"] == pytest.approx(want.item(), rel=1e-5) and abs(want - reverse) > 1e-4  # the direction matters
    off = self_regulation(img, txt, fimg, ftxt, 10.0, 0.0, 0.0, 0.0)
    assert all(v.item() == 0.0 for v in off.values())
    same = self_regulation(img, txt, img, txt, 10.0, 2.0, 3.0, 0.5)
    assert all(v.item() == pytest.approx(0.0, abs=1e-6) for v in same.values())  # the frozen model itself


def test_independent_visual_prompts_are_their_own_parameters():
    clip_model = tiny_clip_model()
    learner = DualPromptLearner(clip_model, 4, 3, independent=(2, 2))
    prompts = learner()
    assert not hasattr(learner, "couplings") and prompts.shallow_visual.shape == (2, 64) and len(prompts.deep_visual) == 1
    assert prompts.shallow_visual is learner.visual_ctx  # not generated from the text context (MaPLe would be)
    with pytest.raises(ValueError, match="visual prompts need >= 1 token and a depth of 1..3"):
        DualPromptLearner(clip_model, 4, 3, independent=(2, 4))


def test_frozen_text_targets_are_zero_shot_clips_caption_features():
    model = PromptedCLIP(tiny_clip_model(), DualPromptLearner(tiny_clip_model(), 4, 3, independent=(2, 2)))
    plain = PromptedCLIP(tiny_clip_model())
    captions = ["a red square on the left", "a small blue circle"]
    with torch.no_grad():
        zero_shot = F.normalize(plain.encode_text(captions), dim=-1)
    assert torch.allclose(frozen_text_targets(model, captions, "caption"), zero_shot, atol=1e-6)
    templated = frozen_text_targets(model, captions, "templates")
    assert not torch.allclose(templated, zero_shot, atol=1e-3) and torch.allclose(templated.norm(dim=-1), torch.ones(2))


def test_a_step_trains_the_prompts_only_and_the_terms_switch_off_by_weight(tmp_path, ckpt):
    t = build(_cfg(tmp_path, ckpt))
    t.set_model_mode("train")
    t.num_batches, t.batch_idx = 10**6, 0
    batch = next(iter(t.train_loader_x))
    out = t.forward_backward(batch)
    assert out["loss"] == pytest.approx(out["l_con"] + out["l1_image"] + out["l1_text"] + out["kl"], rel=1e-5)
    assert all(p.grad is None for p in t.model.clip.parameters())  # the frozen towers and targets get no gradient
    assert t.prompts.visual_ctx.grad is not None and not t.text_targets.requires_grad
    off = build(_cfg(tmp_path / "off", ckpt, TRAINER__PROMPTSRC__TEXT_LOSS_WEIGHT=0.0,
                     TRAINER__PROMPTSRC__IMAGE_LOSS_WEIGHT=0.0, TRAINER__PROMPTSRC__KL_WEIGHT=0.0))
    off.set_model_mode("train")
    off.num_batches, off.batch_idx = 10**6, 0
    got = off.forward_backward(next(iter(off.train_loader_x)))
    assert got["loss"] == got["l_con"] and got["l1_image"] == got["l1_text"] == got["kl"] == 0.0


def test_training_ends_on_the_aggregate_which_is_saved_and_reloaded(tmp_path, ckpt, monkeypatch):
    cfg = _cfg(tmp_path, ckpt, OPTIM__MAX_EPOCH=2, TRAINER__PROMPTSRC__GPA_MEAN=2.0, TRAINER__PROMPTSRC__GPA_STD=1.0)
    cfg.freeze()
    t = build(cfg)
    seen, add = [], GaussianAggregation.add
    monkeypatch.setattr(GaussianAggregation, "add", lambda self, prompts, weight: seen.append(
        (weight, [p.detach().clone() for p in prompts.parameters()])) or add(self, prompts, weight))
    t.train()
    assert [w for w, _ in seen] == pytest.approx(gaussian_weights(2, 2.0, 1.0))
    want = [sum(w * ps[i] for w, ps in seen) for i in range(len(seen[0][1]))]
    assert all(torch.allclose(p, q) for p, q in zip(t.prompts.parameters(), want))
    assert not torch.allclose(want[0], seen[-1][1][0])  # the aggregate is not the last epoch's prompts
    assert t.test() == reloaded_test(cfg)


def test_a_killed_run_resumes_to_the_uninterrupted_aggregate(tmp_path, ckpt):
    # fails if the running Gaussian sum is not in the checkpoint (the resumed aggregate would miss epoch 1)
    resumed_equals_uninterrupted(lambda name: _cfg(tmp_path / name, ckpt, OPTIM__MAX_EPOCH=2, DATASET__ROOT=str(
        tmp_path / "data"), TRAINER__PROMPTSRC__GPA_MEAN=1.0, TRAINER__PROMPTSRC__GPA_STD=1.0))


def test_bad_keys_are_named(tmp_path, ckpt):
    with pytest.raises(ValueError, match="TEXT_TARGET must be one of"):
        build(_cfg(tmp_path, ckpt, TRAINER__PROMPTSRC__TEXT_TARGET="class names"))
    with pytest.raises(ValueError, match="KL_WEIGHT must be >= 0"):
        build(_cfg(tmp_path, ckpt, TRAINER__PROMPTSRC__KL_WEIGHT=-1.0))
