"""FILIP (trainers/filip.py): both towers train with L_con over token-wise late-interaction scores,
the temperature stays CLIP's, evaluation ranks by the same scores (or the pooled embeddings with
``EVAL global``), and a trained run reloads and resumes exactly, on a tiny CLIP."""
import copy

import pytest
import torch

from evaluation.late_interaction import token_scores
from tests.dcar_helpers import (
    build,
    resumed_equals_uninterrupted,
    steps_on_one_batch,
    trainable,
    trainer_cfg,
)
from trainers.losses import contrastive_loss, late_interaction_loss


def _cfg(tmp_path, ckpt, **opts):
    return trainer_cfg(tmp_path, ckpt, "FILIP", **opts)


class _Item:
    def __init__(self, i):
        self.impath, self.caption = f"img{i}", f"caption {i}"


def test_the_loss_is_info_nce_over_the_token_scores_in_each_direction():
    """With one patch and one word each, late interaction is the cosine: the loss equals L_con on
    those features; with more tokens, the caption-to-image side uses the text-to-image scores (fails
    if it reuses the image-to-text scores transposed, or takes padding tokens in)."""
    g = torch.Generator().manual_seed(0)
    img, words = torch.randn(4, 1, 6, generator=g), torch.randn(4, 3, 6, generator=g)
    mask = torch.tensor([[False, True, False]] * 4)  # start, one word, end
    items = [_Item(i) for i in range(4)]
    loss, n = late_interaction_loss(img, words, mask, items, 10.0, "symmetric")
    assert n == 4 and loss.item() == pytest.approx(contrastive_loss(img[:, 0], words[:, 1], 10.0).item(), abs=1e-5)
    img, words = torch.randn(4, 5, 6, generator=g), torch.randn(4, 7, 6, generator=g)
    mask = torch.rand(4, 7, generator=g) > 0.3
    mask[:, 1] = True
    i2t, t2i = token_scores(img, words, mask)
    ce = torch.nn.functional.cross_entropy
    target = torch.arange(4)
    expected = (ce(10.0 * i2t, target) + ce(10.0 * t2i.T, target)) / 2
    loss, _ = late_interaction_loss(img, words, mask, items, 10.0, "symmetric")
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)
    assert loss.item() != pytest.approx(((ce(10.0 * i2t, target) + ce(10.0 * i2t.T, target)) / 2).item(), abs=1e-4)
    loud = words.clone()
    loud[~mask] = 50.0
    assert late_interaction_loss(img, loud, mask, items, 10.0, "symmetric")[0].item() == pytest.approx(loss.item(), abs=1e-5)
    assert late_interaction_loss(img, words, mask, items, 10.0, "i2t")[0].item() == pytest.approx(
        ce(10.0 * i2t, target).item(), abs=1e-5)


def test_both_towers_train_on_token_scores_and_the_temperature_does_not(tmp_path, ckpt, monkeypatch):
    # Fails if a tower is left frozen or the temperature trains (as full fine-tuning), or if the
    # step's loss is computed on pooled features rather than the patch and word tokens.
    import trainers.filip as filip

    seen = []
    loss = filip.late_interaction_loss
    monkeypatch.setattr(filip, "late_interaction_loss",
                        lambda img, txt, mask, *a: seen.append((img.shape, txt.shape, mask.shape)) or loss(img, txt, mask, *a))
    t = build(_cfg(tmp_path, ckpt))
    clip = t.model.clip
    assert {n for n, p in clip.named_parameters() if not p.requires_grad} == {"logit_scale"}
    assert all(id(p) in {id(q) for q in trainable(t).parameters()} for p in clip.parameters())
    before = copy.deepcopy(clip.state_dict())
    steps_on_one_batch(t, 2)
    moved = {k for k in before if not torch.equal(before[k], clip.state_dict()[k])}
    assert "logit_scale" not in moved
    assert any(k.startswith("visual.") for k in moved) and any(k.startswith("transformer.") for k in moved)
    (img, txt, mask), patches = seen[0], (32 // clip.visual.conv1.kernel_size[0]) ** 2
    assert img[1:] == (patches, clip.text_projection.shape[1]) and txt[1] == mask[1] == 77 and len(seen) == 2


@pytest.mark.parametrize("mode, dims", [("tokens", 3), ("global", 2)])
def test_evaluation_ranks_by_tokens_or_by_the_pooled_embeddings(tmp_path, ckpt, mode, dims):
    t = build(_cfg(tmp_path, ckpt, TRAINER__FILIP__EVAL=mode))
    t.set_model_mode("eval")
    items = t.test_loader.dataset.data_source[:3]
    with torch.no_grad():
        feats = t.features.eval_images("test", items, t.test_loader.dataset.transform)
        captions = t.model.encode_text([it.captions[0] for it in items])
    assert feats.dim() == dims
    if mode == "tokens":
        assert isinstance(captions, list) and all(c.dim() == 2 for c in captions)
    else:
        assert captions.shape == (3, feats.shape[1])
    assert t.test() >= 0  # the whole evaluation runs on its features (RSUM)


def test_a_bad_eval_mode_is_refused(tmp_path, ckpt):
    with pytest.raises(ValueError, match="TRAINER.FILIP.EVAL must be one of"):
        build(_cfg(tmp_path, ckpt, TRAINER__FILIP__EVAL="pooled"))


@pytest.mark.slow
def test_a_killed_run_resumes_and_a_trained_run_reloads_exactly(tmp_path, ckpt):
    resumed_equals_uninterrupted(lambda name: _cfg(tmp_path / name, ckpt, OPTIM__MAX_EPOCH=2), reload=True)
