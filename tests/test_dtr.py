"""Dynamic token re-weighting (trainers/dcar/dtr.py): the weight formula, which words and tokens
the weights land on in each similarity mode, the towers they are read from, the test-time weights."""
import contextlib

import pytest
import torch
from torch import nn

from datasets.text import encode, tokenize
from tests.dcar_helpers import build, dcar_cfg
from trainers.clip_driver import assemble_text, encode_image, encode_text
from trainers.dcar.dtr import DTRSettings, TextTower, TokenReweighter, spread_to_tokens, weights_from_delta


def test_token_weights_formula_and_special_tokens():
    delta = torch.tensor([0.01, -0.03, 0.02, 0.5])
    content = torch.tensor([True, True, True, False])  # the last is punctuation
    w = weights_from_delta(delta, content, beta=0.5, w_min=0.5, w_max=2.0)
    mean = (0.01 + 0.03 + 0.02) / 3
    expected = [1 + 0.5 * (a / (mean + 1e-6) - 1) for a in (0.01, 0.03, 0.02)]
    assert w[:3].tolist() == pytest.approx(expected) and w[3] == 1.0
    w = weights_from_delta(torch.tensor([0.0, 1.0]), torch.tensor([True, True]), beta=1.0, w_min=0.5, w_max=1.5)
    assert w.tolist() == pytest.approx([0.5, 1.5])  # clamped
    row = spread_to_tokens([2.0, 0.5], [1, 2], budget=73)
    assert row[:5].tolist() == [1.0, 2.0, 0.5, 0.5, 1.0]


def test_noise_floor_and_strength_by_hand():
    """tau pulls an ungrounded caption (all |dS| tiny) towards 1 and barely moves a grounded one;
    beta 0 switches the weights off."""
    content = torch.ones(3, dtype=torch.bool)
    noise = torch.tensor([0.001, 0.003, 0.002])  # mean 0.002
    plain = weights_from_delta(noise, content, 0.5, 0.5, 2.0)
    floored = weights_from_delta(noise, content, 0.5, 0.5, 2.0, floor=0.05)
    assert plain.tolist() == pytest.approx([0.75, 1.25, 1.0], abs=1e-3)  # noise made into +-25 %
    assert floored.tolist() == pytest.approx([1 + 0.5 * ((a + 0.05) / (0.052 + 1e-6) - 1) for a in noise.tolist()])
    assert (floored - 1).abs().max() < 0.01
    grounded = torch.tensor([0.01, 0.3, 0.2])  # mean 0.17
    assert weights_from_delta(grounded, content, 0.5, 0.5, 2.0)[1].item() == pytest.approx(1 + 0.5 * (0.3 / 0.17 - 1), rel=1e-4)
    assert weights_from_delta(grounded, content, 0.5, 0.5, 2.0, floor=0.05)[1].item() == pytest.approx(
        1 + 0.5 * (0.35 / 0.22 - 1), rel=1e-4)  # still well above 1
    assert weights_from_delta(grounded, content, 0.0, 0.5, 2.0).tolist() == [1.0, 1.0, 1.0]


class LookupText:
    """A text tower built for the test: every word (or token) has a chosen unit feature."""

    def __init__(self, table: dict[str, torch.Tensor], default: torch.Tensor) -> None:
        self.table, self.default = table, default

    def word_features(self, vocab):
        return {w: self.table.get(w, self.default) for w in vocab}

    def token_features(self, captions, reserved):
        out = []
        for c in captions:
            ids = tokenize([c], reserved=reserved)[0][0]
            n = int(ids.argmax())
            out.append(torch.stack([self.table.get(int(i), self.default) for i in ids[1:n]]))
        return out


E = torch.eye(4)  # 0: red, 1: white (the blank), 2: what every word shares, 3: blue


def test_grounded_word_outweighs_function_words_on_a_grounded_backbone():
    """On a backbone where "red" is grounded (red images match it, the blank does not) and the
    function words are not, "red" gets the largest weight and the function words less than 1;
    the paired image decides: a blue image with "blue" up-weights "blue" instead."""
    grounded = {"red": nn.functional.normalize(E[0] + 0.2 * E[2], dim=0),
                "blue": nn.functional.normalize(E[3] + 0.2 * E[2], dim=0)}
    text = LookupText(grounded, default=E[2])
    red_img, blue_img = nn.functional.normalize(E[0] + E[2], dim=0), nn.functional.normalize(E[3] + E[2], dim=0)
    blank = nn.functional.normalize(E[1] + E[2], dim=0)
    caption = "a red and blue thing on the mat"
    w = TokenReweighter(DTRSettings()).weights([caption, caption], text, torch.stack([red_img, blue_img]), blank, 0)
    ids = tokenize([caption])[0][0]
    pos = {word: 1 + i for i, word in enumerate(caption.split())}  # one BPE piece per word here
    assert all(len(encode(word)) == 1 for word in pos)
    red, blue, function = pos["red"], pos["blue"], [pos[x] for x in ("a", "and", "on", "the")]
    assert w[0, red] == w[0].max() and w[0, red] > 1.4 and (w[0, function] < 1).all()
    assert w[1, blue] == w[1].max() and w[1, red] < w[0, red]  # the same caption, another image
    assert (w[:, 0] == 1).all() and (w[:, int(ids.argmax())] == 1).all()  # SOS, EOS


def test_same_caption_with_two_images_gets_two_weightings(tiny_clip_files):
    model = tiny_clip_files["model"]
    text = TextTower(model, contextlib.nullcontext)
    with torch.no_grad():
        images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        imgs = nn.functional.normalize(model.encode_image(images), dim=-1)
        blank = nn.functional.normalize(model.encode_image(torch.zeros(1, 3, 32, 32)), dim=-1)[0]
    caption = "a small red emblem with a dotted surface."
    rw = TokenReweighter(DTRSettings())
    w = rw.weights([caption, caption, caption], text, torch.cat([imgs, imgs[:1]]), blank, reserved=2)
    assert not torch.allclose(w[0], w[1]) and torch.equal(w[0], w[2])


def test_contextual_weights_land_on_the_token_that_is_grounded():
    """In ``contextual`` mode the weight of the token whose feature matches the image is written at
    that token's position in the caption ids (fails if the weights are shifted by one, or by the
    context length)."""
    caption = "a plain emblem with a checkered surface"
    ids = tokenize([caption], reserved=2)[0][0]
    target = int(encode("checkered")[0])
    text = LookupText({target: E[0]}, default=E[2])
    w = TokenReweighter(DTRSettings(mode="contextual")).weights([caption], text, E[0][None], E[1], reserved=2)
    pos = int((ids == target).nonzero()[0])
    assert w[0].argmax() == pos and w[0, pos] > 1.5 and (w[0, 1:pos] < 1).all()


def test_prompted_token_features_skip_the_context(tiny_clip_files):
    """With prompts, the text tower's token features are the hidden states after the k context
    tokens: position 1 + k + j holds caption token j (a tower that forgot the context would return
    the context's states)."""
    model = tiny_clip_files["model"]
    k = 2
    prompts = _prompts(model, k)
    caption = ["a small red emblem.", "a dotted flower on a white background"]
    got = TextTower(model, contextlib.nullcontext, prompts).token_features(caption, reserved=k)
    ids, _ = tokenize(caption, reserved=k)
    with torch.no_grad():
        x, eot = assemble_text(model, ids, prompts.ctx)
        h = nn.functional.normalize(encode_text(model, x, eot, prompts.deep_text, all_tokens=True), dim=-1)
    for r, feats in enumerate(got):
        n = int(ids[r].argmax())
        assert feats.shape[0] == n - 1 and torch.allclose(feats, h[r, 1 + k:n + k], atol=1e-6)
        assert not torch.allclose(feats[:k], h[r, 1:1 + k], atol=1e-3)


def test_patch_mode_pools_over_patches_by_hand():
    """Patch mode: S(word, image) is the max (or mean) over patches of the cosine with each patch."""
    patches = torch.stack([E[2], E[0], E[2], E[2]])  # one of four patches shows red
    blank = torch.stack([E[1]] * 4)
    text = LookupText({"red": E[0]}, default=nn.functional.normalize(E[1] + E[2], dim=0))
    caption = "red dot here"
    mx = TokenReweighter(DTRSettings(mode="patch", beta=1.0, w_max=9.0, w_min=0.0)).weights(
        [caption], text, patches[None], blank, 0)
    mean = TokenReweighter(DTRSettings(mode="patch", pool="mean", beta=1.0, w_max=9.0, w_min=0.0)).weights(
        [caption], text, patches[None], blank, 0)
    # |dS|: red: max 1 (mean 0.25); others: 1/sqrt2 - max(1/sqrt2) = 0 (mean 0.707 - 0.530 = 0.177)
    r = 2 ** -0.5
    assert mx[0, 1:4].tolist() == pytest.approx([1 / ((1 + 0 + 0) / 3 + 1e-6), 0.0, 0.0], rel=1e-5)
    m_red, m_other = 0.25, r - 0.75 * r
    avg = (m_red + 2 * m_other) / 3
    assert mean[0, 1:4].tolist() == pytest.approx([m_red / (avg + 1e-6), m_other / (avg + 1e-6), m_other / (avg + 1e-6)],
                                                  rel=1e-5)


def test_patch_features_of_the_image_tower(tiny_clip_files):
    """``encode_image(..., patches=True)``: every patch's feature through ln_post and the projection,
    the visual prompts excluded; the pooled path is unchanged."""
    model = tiny_clip_files["model"]
    v = model.visual
    img = torch.randn(2, 3, 32, 32)
    prompts = _prompts(model, 2)
    with torch.no_grad():
        pooled = encode_image(model, img, prompts.shallow_visual, prompts.deep_visual)
        patches = encode_image(model, img, prompts.shallow_visual, prompts.deep_visual, patches=True)
        # by hand, layer 0 only prompted: the tiny ViT's tokens, then ln_post on positions 1..P
        x = v.conv1(img).flatten(2).transpose(1, 2)
        x = torch.cat([v.class_embedding.expand(2, 1, -1), x], dim=1) + v.positional_embedding
        x = torch.cat([x, prompts.shallow_visual.expand(2, -1, -1)], dim=1)
        x = v.ln_pre(x).permute(1, 0, 2)
        for i, block in enumerate(v.transformer.resblocks):
            if 1 <= i <= len(prompts.deep_visual):
                x = torch.cat([x[:-2], prompts.deep_visual[i - 1][:, None].expand(-1, 2, -1)])
            x = block(x)
        x = x.permute(1, 0, 2)
    n_patches = (32 // 8) ** 2
    assert patches.shape == (2, n_patches, 32)
    assert torch.allclose(patches, v.ln_post(x[:, 1:1 + n_patches]) @ v.proj, atol=1e-5)
    assert torch.allclose(pooled, v.ln_post(x[:, 0]) @ v.proj, atol=1e-5)


def _prompts(model, k):
    from trainers.prompts import DualPromptLearner

    torch.manual_seed(3)
    with torch.no_grad():
        return DualPromptLearner(model, k, 2, "", True)()


def test_dtr_weights_of_training_pairs(tmp_path, ckpt):
    t = build(dcar_cfg(tmp_path, ckpt))
    w = t.dtr.weights
    items = t.train_loader_x.dataset.data_source
    assert w.shape == (len(items), 77)
    ids = t.tokens([it.caption for it in items], t.device)
    eot = ids.argmax(-1)
    rows = torch.arange(len(items))
    assert (w[:, 0] == 1).all() and (w[rows, eot] == 1).all()  # SOS and EOS
    assert ((w >= 0.5) & (w <= 2.0)).all() and (w != 1).any()
    assert (w[ids == 269] == 1).all()  # "." is punctuation


def test_current_source_recomputes_with_the_prompted_encoders(tmp_path, ckpt):
    """``DTR.SOURCE current``: weights from the prompted encoders at the first step, kept between
    refreshes, recomputed every ``REFRESH`` steps after the prompts moved (a trainer that read the
    frozen CLIP, or never refreshed, fails)."""
    frozen = build(dcar_cfg(tmp_path, ckpt)).dtr.weights
    t = build(dcar_cfg(tmp_path, ckpt, TRAINER__DCAR__DTR__SOURCE="current", TRAINER__DCAR__DTR__REFRESH=2))
    assert t.dtr.weights is None
    items = t.train_loader_x.dataset.data_source
    t.num_batches, t.epoch = 10, 0
    batches = list(t.train_loader_x)
    seen = []
    for step in range(3):
        t.batch_idx = step
        if step == 2:
            with torch.no_grad():
                expected = t.dtr.compute(items, t.model.prompts())
        t.forward_backward(batches[step % len(batches)])
        seen.append(t.dtr.weights.clone())
    assert not torch.allclose(seen[0], frozen, atol=1e-4)
    assert torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
    assert torch.equal(seen[2], expected)


def test_test_time_blank_weights(tmp_path, ckpt):
    """``DTR.TEST_WEIGHTS blank``: retrieval encodes each caption with the weights of
    dS = S(token, blank) alone (no paired image), from the towers DTR trains with."""
    t = build(dcar_cfg(tmp_path, ckpt, TRAINER__DCAR__DTR__TEST_WEIGHTS="blank"))
    caps = [it.caption for it in t.train_loader_x.dataset.data_source[:5]]
    with torch.no_grad():
        blank = nn.functional.normalize(t.model.frozen_image(t.dtr.blank_image()), dim=-1)[0]
        w = t.dtr.reweighter.weights(caps, t.dtr.frozen_text, None, blank, reserved=t.model.n_ctx)
        prompts = t.model.prompts()
        ids, _ = tokenize(caps, reserved=t.model.n_ctx)
        expected = encode_text(t.model.clip, *assemble_text(t.model.clip, ids, prompts.ctx, w), prompts.deep_text)
        plain = encode_text(t.model.clip, *assemble_text(t.model.clip, ids, prompts.ctx), prompts.deep_text)
        got = t.model.encode_text(caps)
    assert (w != 1).any() and torch.allclose(got, expected, atol=1e-5) and not torch.allclose(got, plain, atol=1e-4)
