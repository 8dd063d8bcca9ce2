"""The DCAR trainer on a tiny CLIP: prompting, DTR, category weighting, losses, switches."""
import copy
import json
import math

import pytest
import torch

from datasets.text import tokenize
from tests.dcar_helpers import build, dcar_cfg, trainable
from trainers.clip_driver import assemble_text, encode_image, encode_text
from trainers.dcar.objective import category_loss, category_weights
from trainers.losses import contrastive_loss


def _first_batch(trainer):
    torch.manual_seed(0)
    return next(iter(trainer.train_loader_x))


def test_unprompted_paths_equal_clip(tiny_clip_files):
    from trainers.backbones import load_clip

    model = load_clip(tiny_clip_files["described"])
    ids, _ = tokenize(["a red emblem on a white background.", "x"])
    with torch.no_grad():
        ref = model.encode_text(ids)
        assert torch.allclose(encode_text(model, *assemble_text(model, ids, None)), ref, atol=1e-5)
        assert torch.allclose(encode_text(model, *assemble_text(model, ids, None), trim=False), ref, atol=1e-5)
        img = torch.randn(3, 3, 32, 32)
        assert torch.allclose(encode_image(model, img), model.encode_image(img), atol=1e-5)


def test_reduces_to_coop_style_prompting(tmp_path, ckpt):
    cfg = dcar_cfg(tmp_path, ckpt, TRAINER__DCAR__DTR__ENABLED=False, TRAINER__DCAR__CATE__LAMBDA=0.0,
                   TRAINER__DCAR__PROMPT_DEPTH=1, TRAINER__DCAR__VISUAL_PROMPTS=False)
    t = build(cfg)
    assert not hasattr(t.model.prompts, "couplings") and t.objective.caa is None
    captions = ["This is a photo of Migal.A small red emblem.", "a blue flower"]
    ids, _ = tokenize(captions, reserved=2)
    clip_model, ctx = t.model.clip, t.model.prompts.ctx
    with torch.no_grad():  # CoOp: [SOS] ctx tokens, then the text; CLIP's transformer as a whole
        emb = clip_model.token_embedding(ids)
        x = torch.cat([emb[:, :1], ctx[None].expand(2, -1, -1), emb[:, 1:75]], dim=1) + clip_model.positional_embedding
        x = clip_model.ln_final(clip_model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        ref = x[torch.arange(2), ids.argmax(-1) + 2] @ clip_model.text_projection
        assert torch.allclose(t.model.encode_text(captions), ref, atol=1e-5)
        ones = torch.ones(1, 3, 32, 32)
        assert torch.allclose(t.model.encode_image(ones), clip_model.encode_image(ones), atol=1e-5)


def test_only_prompts_coupling_and_caa_train_and_clip_stays_frozen(tmp_path, ckpt):
    t = build(dcar_cfg(tmp_path, ckpt))
    before = copy.deepcopy(t.model.clip.state_dict())
    own = {n for n, p in trainable(t).named_parameters() if p.requires_grad}
    assert own and all(n.startswith(("prompts.ctx", "prompts.deep_text", "prompts.couplings", "caa.")) for n in own)
    assert not any(p.requires_grad for p in t.model.clip.parameters())
    t.num_batches, t.batch_idx = 10, 0
    batch = _first_batch(t)
    t.model_zero_grad()
    t.forward_backward(batch)
    grads = {n for n, p in trainable(t).named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {"prompts.ctx", "prompts.deep_text.0", "prompts.couplings.0.weight", "caa.adapter.fc1.weight"} <= grads
    for _ in range(3):
        t.forward_backward(batch)
    after = t.model.clip.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_category_weights_rule():
    cand = torch.tensor([[3, -1, 3], [5, 5, -1]])
    w = category_weights(cand, torch.tensor([3, 5]), alpha=0.5)
    assert w.tolist() == [[1.5, 1.0, 1.5], [1.5, 1.5, 1.0]]


def test_losses_by_hand():
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    logits = torch.tensor([[1.0, 0.6], [0.0, 0.8]])
    i2t = -(torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[1, 1]) / 2
    t2i = -(torch.log_softmax(logits.T, 1)[0, 0] + torch.log_softmax(logits.T, 1)[1, 1]) / 2
    assert contrastive_loss(img, txt, 1.0).item() == pytest.approx(((i2t + t2i) / 2).item(), rel=1e-6)
    assert contrastive_loss(img, txt, 1.0, mode="i2t").item() == pytest.approx(i2t.item(), rel=1e-6)
    same = torch.tensor([[False, True], [True, False]])  # e.g. duplicate captions: no negatives left
    assert contrastive_loss(img, txt, 1.0, same).item() == pytest.approx(0.0, abs=1e-6)
    # L_cate, one image, candidates: positive s=1, negatives s=0 (w=1) and s=0.5 (w=1.5)
    cands = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.75 ** 0.5]]])
    valid = torch.ones(1, 3, dtype=torch.bool)
    w = torch.tensor([[1.5, 1.0, 1.5]])
    e = torch.exp(torch.tensor([1.0, 0.0, 0.5]))
    expected = -torch.log(e[0] / (e[0] + 1.0 * e[1] + 1.5 * e[2]))
    assert category_loss(img[:1], cands, valid, w, 1.0).item() == pytest.approx(expected.item(), rel=1e-5)
    biased = -torch.log(1.5 * e[0] / (1.5 * e[0] + e[1] + 1.5 * e[2]))
    assert category_loss(img[:1], cands, valid, w, 1.0, "logit_bias").item() == pytest.approx(biased.item(), rel=1e-5)
    pad = torch.tensor([[True, True, False]])
    expected_pad = -torch.log(e[0] / (e[0] + e[1]))
    assert category_loss(img[:1], cands, pad, w, 1.0).item() == pytest.approx(expected_pad.item(), rel=1e-5)


def test_loss_weight_mode_by_hand():
    """``loss_weight``: binary matching loss per candidate on logits centred on the image's mean
    candidate score, each term weighted by w, averaged over the valid candidates."""
    img = torch.tensor([[1.0, 0.0]])
    cands = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.75 ** 0.5]]])  # scores 1, 0, 0.5; mean 0.5
    w = torch.tensor([[1.5, 1.0, 1.5]])
    def softplus(z: float) -> float:  # BCE with logits: label 1 -> softplus(-z), label 0 -> softplus(z)
        return math.log1p(math.exp(z))

    expected = (1.5 * softplus(-0.5) + 1.0 * softplus(-0.5) + 1.5 * softplus(0.0)) / 3
    valid = torch.ones(1, 3, dtype=torch.bool)
    assert category_loss(img, cands, valid, w, 1.0, "loss_weight").item() == pytest.approx(expected, rel=1e-6)
    pad = torch.tensor([[True, False, True]])  # mean over the valid candidates only: 0.75 -> centred +0.25, -0.25
    expected_pad = (1.5 * softplus(-0.25) + 1.5 * softplus(-0.25)) / 2
    assert category_loss(img, cands, pad, w, 1.0, "loss_weight").item() == pytest.approx(expected_pad, rel=1e-6)


def test_category_branch_weights_the_positive_and_attribute_swaps_not_category_swaps(tmp_path, ckpt, monkeypatch):
    """Slot 0 is the positive, then the category swaps (another class: w = 1), then the attribute
    swaps (same class: w = 1 + alpha). Fails if the two kinds of negatives are labelled the other way."""
    t = build(dcar_cfg(tmp_path, ckpt, TRAINER__DCAR__CATE__ALPHA=0.5))
    t.num_batches, t.batch_idx = 10, 0
    seen = {}

    def spy(img, cands, valid, weights, scale, mode):
        seen.update(valid=valid.clone(), weights=weights.clone())
        return category_loss(img, cands, valid, weights, scale, mode)

    monkeypatch.setattr("trainers.dcar.objective.category_loss", spy)
    batch = _first_batch(t)
    t.forward_backward(batch)
    items = [t.train_loader_x.dataset.data_source[i] for i in batch["index"].tolist()]
    assert any(it.negatives_category for it in items) and any(it.negatives_attribute for it in items)
    for row, it in enumerate(items):
        n_cat, n_att = len(it.negatives_category), len(it.negatives_attribute)
        expected = [1.5] + [1.0] * n_cat + [1.5] * n_att
        assert seen["weights"][row, : len(expected)].tolist() == expected
        assert seen["valid"][row].tolist() == [True] * len(expected) + [False] * (seen["valid"].shape[1] - len(expected))


def test_retrieval_encodes_captions_unweighted_and_without_caa(tmp_path, ckpt):
    """With DTR and CAA on, test-time captions still get token weights 1 and no CAA."""
    t = build(dcar_cfg(tmp_path, ckpt))
    assert t.dtr.weights is not None and t.objective.caa is not None
    items = t.train_loader_x.dataset.data_source[:6]
    caps = [it.caption for it in items]
    ids, _ = tokenize(caps, reserved=t.model.n_ctx)
    with torch.no_grad():
        got = t.model.encode_text(caps)
        prompts = t.model.prompts()
        plain = encode_text(t.model.clip, *assemble_text(t.model.clip, ids, prompts.ctx), prompts.deep_text).float()
        weighted = encode_text(t.model.clip, *assemble_text(t.model.clip, ids, prompts.ctx, t.dtr.weights[:6]),
                               prompts.deep_text).float()
        for p in t.objective.caa.parameters():
            p.add_(1.0)
        after_caa_change = t.model.encode_text(caps)
    assert torch.allclose(got, plain, atol=1e-5)
    assert not torch.allclose(plain, weighted, atol=1e-3)  # the training weights would show
    assert torch.equal(got, after_caa_change)


def test_caa_at_test_switch(tmp_path, ckpt):
    """``CAA.AT_TEST``: retrieval's caption features go through the trained CAA module too."""
    t = build(dcar_cfg(tmp_path, ckpt, TRAINER__DCAR__CAA__AT_TEST=True))
    caps = [it.caption for it in t.train_loader_x.dataset.data_source[:4]]
    with torch.no_grad():
        prompts = t.model.prompts()
        ids = tokenize(caps, reserved=t.model.n_ctx)[0]
        plain = encode_text(t.model.clip, *assemble_text(t.model.clip, ids, prompts.ctx), prompts.deep_text)
        expected = t.objective.caa(torch.nn.functional.normalize(plain, dim=-1)[:, None])[:, 0]
        got = t.model.encode_text(caps)
    assert torch.allclose(got, expected, atol=1e-5)
    assert not torch.allclose(got, torch.nn.functional.normalize(plain, dim=-1), atol=1e-4)


SWITCHES = [
    ("TRAINER__DCAR__DTR__ENABLED", False),
    ("TRAINER__DCAR__DTR__S_MODE", "contextual"),
    ("TRAINER__DCAR__DTR__S_MODE", "patch"),
    ("TRAINER__DCAR__DTR__SOURCE", "current"),
    ("TRAINER__DCAR__DTR__NOISE_FLOOR", 0.05),
    ("TRAINER__DCAR__DTR__BLANK", "mean"),
    ("TRAINER__DCAR__DTR__BETA", 1.0),
    ("TRAINER__DCAR__CATE__LAMBDA", 0.0),
    ("TRAINER__DCAR__CATE__ALPHA", 0.0),
    ("TRAINER__DCAR__CATE__WEIGHT_MODE", "loss_weight"),
    ("TRAINER__DCAR__CAA__TYPE", "attention"),
    ("TRAINER__DCAR__CAA__RATIO", 0.5),
    ("TRAINER__DCAR__VISUAL_PROMPTS", False),
    ("TRAINER__DCAR__PROMPT_DEPTH", 1),
    ("TRAINER__DCAR__N_CTX", 3),
    ("TRAINER__DCAR__LOSS", "i2t"),
    ("DATASET__FDRD__NUM_ATTRIBUTE_NEGATIVES", 0),
]


def _first_loss(cfg):
    t = build(cfg)
    t.num_batches, t.batch_idx = 10, 0
    return t.forward_backward(_first_batch(t))["loss"]


@pytest.fixture(scope="module")
def switch_root(tmp_path_factory):
    return tmp_path_factory.mktemp("switches")  # one small FDRDSynth for every switch


# The switches' base: the synth config with the keys tuning chooses pinned (at the defaults), so a
# switch never sets the value the config already has, whatever the tuning chose.
SWITCH_BASE = {"TRAINER__DCAR__LOSS": "symmetric", "TRAINER__DCAR__CATE__LAMBDA": 1.0,
               "TRAINER__DCAR__CATE__ALPHA": 0.5, "DATASET__FDRD__NUM_ATTRIBUTE_NEGATIVES": 1}


@pytest.fixture(scope="module")
def base_loss(switch_root, ckpt):
    base = _first_loss(dcar_cfg(switch_root, ckpt, **SWITCH_BASE))
    assert base == _first_loss(dcar_cfg(switch_root, ckpt, **SWITCH_BASE))  # deterministic
    return base


@pytest.mark.parametrize("key,value", SWITCHES, ids=[f"{k}={v}" for k, v in SWITCHES])
def test_every_switch_changes_the_computation(switch_root, ckpt, base_loss, key, value):
    """A switch that is silently off (never read, or read but without effect) leaves the loss as it was."""
    assert _first_loss(dcar_cfg(switch_root, ckpt, **{**SWITCH_BASE, key: value})) != pytest.approx(base_loss, rel=1e-6)


def test_loss_decreases_on_synth(tmp_path, ckpt):
    cfg = dcar_cfg(tmp_path, ckpt, OPTIM__LR=0.05, OPTIM__WARMUP_EPOCH=-1, INPUT__TRANSFORMS=("normalize",))
    t = build(cfg)
    t.num_batches, t.batch_idx = 10**6, 0
    t.set_model_mode("train")
    batches = list(t.train_loader_x)
    losses = [t.forward_backward(batches[i % len(batches)])["loss"] for i in range(36)]
    first, last = sum(losses[:len(batches)]) / len(batches), sum(losses[-len(batches):]) / len(batches)
    assert last < 0.95 * first, (first, last)  # deterministic: 4.35 -> 3.88 with this seed


@pytest.mark.slow
def test_checkpoint_reloads_to_identical_metrics(tmp_path, ckpt):
    cfg = dcar_cfg(tmp_path, ckpt, OPTIM__MAX_EPOCH=2)
    cfg.freeze()
    t = build(cfg)
    t.train()
    first = t.test()
    curves = json.loads((tmp_path / "out" / "curves.json").read_text())
    assert [c["epoch"] for c in curves] == [1, 2] and all("val_i2t_R@1" in c and c["loss"] > 0 for c in curves)
    assert (tmp_path / "out" / "curves.png").is_file() and (tmp_path / "out" / "gallery.png").is_file()
    trained = dict(t.last_results["test"])
    reloaded = build(cfg, seed=99)
    reloaded.test()
    before = dict(reloaded.last_results["test"])  # every metric: on the tiny gallery RSUM alone can tie by chance
    reloaded.load_model(cfg.OUTPUT_DIR)
    assert reloaded.test() == first and reloaded.last_results["test"] == trained != before
