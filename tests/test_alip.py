"""ALIP (trainers/alip.py): the consistency gates (a sample whose two texts agree weighs more; pair
gates only where they disagree), the adaptive loss on both paths, the raw-text path from the class
name, both towers training, and exact reload and resume, on a tiny CLIP."""
import copy

import pytest
import torch
import torch.nn.functional as F

from tests.dcar_helpers import (
    build,
    resumed_equals_uninterrupted,
    steps_on_one_batch,
    trainable,
    trainer_cfg,
)
from trainers.alip import ConsistencyGates, adaptive_loss
from trainers.losses import contrastive_loss


def _cfg(tmp_path, ckpt, **opts):
    return trainer_cfg(tmp_path, ckpt, "ALIP", **opts)


def _unit(*rows):
    return F.normalize(torch.tensor(rows), dim=-1)


def test_a_sample_whose_texts_agree_weighs_more_and_pair_gates_only_where_they_disagree():
    """Running means start at 1 and move by 1 - momentum (0.5 here) towards the batch mean. Texts
    agreeing at cosine 1.0 and disagreeing at 0.0: language mean 0.75, weights exp(2 * 0.25) -> 1
    (clipped) and exp(-2 * 0.75) = 0.223. Fails if the gate is inverted (exp(mean - s)), if the
    sample weight is not clipped at 1, or if a pair gate applies to an agreeing sample."""
    gates = ConsistencyGates(0.5)
    img, raw, caption = _unit([1.0, 0.0], [0.0, 1.0]), _unit([1.0, 0.0], [0.0, 1.0]), _unit([1.0, 0.0], [1.0, 0.0])
    sample, raw_pair, caption_pair = gates(img, raw, caption)
    assert sample.tolist() == pytest.approx([1.0, torch.exp(torch.tensor(-1.5)).item()], abs=1e-6)
    assert gates.mean_language.item() == pytest.approx(0.75)
    # raw path: similarities (1, 1), mean 1 -> weight 1 for the disagreeing sample; caption path: (1, 0), mean
    # 0.75 -> exp(2 * (0 - 0.75)) for it; the agreeing sample's pair weights are 1 on both paths
    assert raw_pair.tolist() == pytest.approx([1.0, 1.0]) and gates.mean_raw.item() == pytest.approx(1.0)
    assert caption_pair.tolist() == pytest.approx([1.0, torch.exp(torch.tensor(-1.5)).item()], abs=1e-6)


def test_the_adaptive_loss_is_info_nce_on_both_paths_with_each_pair_weighted():
    """With every weight 1 the loss is L_con on the raw path plus L_con on the caption path; a
    sample of weight 0 takes no part in the mean's numerator (fails if the weights are not applied,
    or are applied to the logits instead of each pair's loss)."""
    g = torch.Generator().manual_seed(0)
    img, raw, cap = (torch.randn(4, 8, generator=g) for _ in range(3))

    class _Item:
        def __init__(self, i):
            self.impath, self.caption = f"i{i}", f"c{i}"

    items, texts = [_Item(i) for i in range(4)], [f"r{i}" for i in range(4)]

    class Ones(ConsistencyGates):
        def forward(self, *a):
            return torch.ones(4), torch.ones(4), torch.ones(4)

    got = adaptive_loss(img, raw, cap, items, texts, 10.0, "symmetric", Ones(0.9))
    assert got.item() == pytest.approx((contrastive_loss(img, raw, 10.0) + contrastive_loss(img, cap, 10.0)).item(), abs=1e-5)

    class FirstOff(ConsistencyGates):
        def forward(self, *a):
            return torch.tensor([0.0, 1, 1, 1]), torch.ones(4), torch.ones(4)

    off = adaptive_loss(img, raw, cap, items, texts, 10.0, "symmetric", FirstOff(0.9))
    per_pair = [(F.cross_entropy(10.0 * a @ b.T, torch.arange(4), reduction="none")
                 + F.cross_entropy(10.0 * b @ a.T, torch.arange(4), reduction="none")) / 2
                for a, b in ((F.normalize(img, dim=-1), F.normalize(t, dim=-1)) for t in (raw, cap))]
    assert off.item() == pytest.approx(sum(p[1:].sum() / 4 for p in per_pair).item(), abs=1e-5)


def test_the_raw_text_is_the_class_name_in_the_template_and_both_towers_train(tmp_path, ckpt):
    t = build(_cfg(tmp_path, ckpt))
    item = t.train_set.data_source[0]
    assert t.raw_texts([item]) == [f"a photo of a {item.classname.replace('_', ' ')}."]
    clip = t.model.clip
    assert {n for n, p in clip.named_parameters() if not p.requires_grad} == {"logit_scale"}
    assert "gates.mean_language" in trainable(t).state_dict()  # the running means are checkpointed
    before, means = copy.deepcopy(clip.state_dict()), t.model.gates.mean_language.clone()
    steps_on_one_batch(t, 2)
    moved = {k for k in before if not torch.equal(before[k], clip.state_dict()[k])}
    assert any(k.startswith("visual.") for k in moved) and any(k.startswith("transformer.") for k in moved)
    assert "logit_scale" not in moved and not torch.equal(means, t.model.gates.mean_language)


def test_a_template_without_a_slot_is_refused(tmp_path, ckpt):
    with pytest.raises(ValueError, match="RAW_TEMPLATE must hold"):
        build(_cfg(tmp_path, ckpt, TRAINER__ALIP__RAW_TEMPLATE="a photo"))


@pytest.mark.slow
def test_a_killed_run_resumes_and_a_trained_run_reloads_exactly(tmp_path, ckpt):
    resumed_equals_uninterrupted(lambda name: _cfg(tmp_path / name, ckpt, OPTIM__MAX_EPOCH=2), reload=True)
