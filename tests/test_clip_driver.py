"""The CLIP driver's text pass: trimmed to the longest caption and in length groups, features and
gradients equal to the full pass (trainers/clip_driver.py)."""
import torch

from datasets.text import tokenize
from tests.dcar_helpers import build, trainable, trainer_cfg
from trainers.clip_driver import assemble_text, encode_text, length_groups

CAPTIONS = ["a red emblem.", "This is a photo of Migal. A small red emblem with a thin white border, drawn at the "
            "centre of a square canvas, with a pale background.", "x"]


def test_prompted_text_up_to_longest_caption_equals_full_context(tmp_path, ckpt):
    t = build(trainer_cfg(tmp_path, ckpt, "DCAR"))
    prompts = t.model.prompts()
    assert prompts.deep_text, "deep prompts are exercised"
    ids, _ = tokenize(CAPTIONS, reserved=t.model.n_ctx)
    weights = 0.5 + torch.rand(len(CAPTIONS), 77)
    with torch.no_grad():
        x, eot = assemble_text(t.model.clip, ids, prompts.ctx, weights)
        short = encode_text(t.model.clip, x, eot, prompts.deep_text)
        full = encode_text(t.model.clip, x, eot, prompts.deep_text, trim=False)
    assert torch.allclose(short, full, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(short[0], short[1])


def test_length_groups_minimise_padding_plus_overhead():
    lengths = [5, 40, 5, 41, 77, 5, 42]
    # overhead 3: {5,5,5} 15+3, {40,41,42} 126+3, {77} 77+3 = 227, less than any other split
    assert length_groups(lengths, 3) == [[0, 2, 5], [1, 3, 6], [4]]
    assert length_groups(lengths, 1000) == [list(range(7))]  # one pass when a pass is dear
    assert length_groups([7, 7], 0) == [[0, 1]]


def test_length_grouped_text_pass_equals_one_pass_with_gradients(tmp_path, ckpt):
    t = build(trainer_cfg(tmp_path, ckpt, "DCAR"))
    ids, _ = tokenize(CAPTIONS * 2, reserved=t.model.n_ctx)
    grads = []
    for overhead in (None, 0):
        trainable(t).zero_grad()
        prompts = t.model.prompts()
        x, eot = assemble_text(t.model.clip, ids, prompts.ctx)
        out = encode_text(t.model.clip, x, eot, prompts.deep_text, group_overhead=overhead)
        (out * torch.arange(out.numel()).reshape(out.shape)).sum().backward()
        grads.append((out.detach(), t.model.prompts.ctx.grad.clone()))
    assert len(length_groups((eot + 1).tolist(), 0)) == 3
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5, rtol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-4, rtol=1e-4)
