"""CLIP-LoRA (trainers/clip_lora.py): the parametrization of the fused q/k/v weight by hand, exact
equality with the frozen model at initialisation and after merging, the slices' order, dropout,
the frozen weights' gradients, and the trainer on a tiny run."""
import copy

import pytest
import torch
from torch.nn.utils import parametrize

from tests.dcar_helpers import build, config_file, dcar_cfg, reloaded_test, resumed_equals_uninterrupted
from tests.helpers import tiny_clip_model
from trainers.clip_lora import QKVLoRA, add_lora, attention_layers, merge_lora
from trainers.model import PromptedCLIP

CAPTIONS = ["a red square on the left", "a small blue circle", "a green star in the middle of the image"]


def _features(clip_model, images):
    model = PromptedCLIP(clip_model, train_clip=True).eval()
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(CAPTIONS)


def _images(clip_model):
    torch.manual_seed(1)
    return torch.randn(2, 3, clip_model.visual.input_resolution, clip_model.visual.input_resolution)


def _randomise(adapters, seed=2):
    torch.manual_seed(seed)
    for lora in adapters:
        for b in lora.B.values():
            b.data.normal_()


def test_the_update_is_alpha_over_rank_times_b_a_on_its_own_rows():
    """By hand: only the key adapter is non-zero, so only rows d..2d move, by alpha/rank * B_k A_k
    (fails with q/k/v in another order or another scaling)."""
    d, rank, alpha = 4, 2, 3.0
    lora = QKVLoRA(d, rank, alpha)
    lora.B["k"].data = torch.arange(d * rank, dtype=torch.float32).reshape(d, rank)
    w = torch.randn(3 * d, d)
    got = lora(w)
    assert torch.equal(got[:d], w[:d]) and torch.equal(got[2 * d:], w[2 * d:])
    assert torch.allclose(got[d:2 * d], w[d:2 * d] + alpha / rank * lora.B["k"] @ lora.A["k"])
    only_v = QKVLoRA(d, rank, alpha, slices=("v",))
    assert set(only_v.A) == {"v"} and torch.equal(only_v(w), w)  # B = 0: no update


def test_at_initialisation_every_feature_equals_the_frozen_models():
    """B starts at 0, so the adapted weights are the frozen ones exactly (fails if B is not zero-initialised)."""
    frozen = tiny_clip_model()
    adapted = copy.deepcopy(frozen)
    adapters = add_lora(adapted, rank=2, alpha=1.0, dropout=0.25)
    images = _images(frozen)
    for a, b in zip(_features(frozen, images), _features(adapted, images)):
        assert torch.equal(a, b)
    assert len(adapters) == len(frozen.transformer.resblocks) + len(frozen.visual.transformer.resblocks)


def test_merged_adapters_give_identical_features_and_leave_no_parametrization():
    clip_model = tiny_clip_model()
    adapters = add_lora(clip_model, rank=2, alpha=1.0, dropout=0.25)
    _randomise(adapters)
    adapters.eval()
    images = _images(clip_model)
    before = _features(clip_model, images)
    assert not torch.equal(before[0], _features(tiny_clip_model(), images)[0])  # the adapters do something
    assert merge_lora(clip_model) == len(adapters)
    assert not any(parametrize.is_parametrized(m) for m in clip_model.modules())
    for a, b in zip(before, _features(clip_model, images)):
        assert torch.equal(a, b)


def test_dropout_drops_whole_input_features_in_training_only():
    lora = QKVLoRA(6, 2, 2.0, dropout=0.5)
    _randomise([lora])
    lora.eval()
    full = lora.delta()
    assert torch.equal(full, lora.delta())
    lora.train()
    torch.manual_seed(0)
    dropped = lora.delta()
    kept = (dropped != 0).any(dim=0)
    assert 0 < kept.sum() < 6  # some input features (columns) dropped, the same ones for q, k and v
    assert torch.allclose(dropped[:, kept], 2 * full[:, kept]) and torch.equal(dropped[:, ~kept], 0 * full[:, ~kept])


def test_only_the_adapters_get_gradients():
    clip_model = tiny_clip_model()
    clip_model.requires_grad_(False)
    adapters = add_lora(clip_model, rank=2, alpha=1.0, towers=("vision",), layers=(0,))
    _randomise(adapters)
    img, txt = PromptedCLIP(clip_model, train_clip=True)(_images(clip_model), CAPTIONS)
    (img.sum() + txt.sum()).backward()
    assert all(p.grad is None for n, p in clip_model.named_parameters() if "parametrizations" not in n or "original" in n)
    assert all(p.grad is not None for p in adapters.parameters())
    assert attention_layers(clip_model, ("vision",), (0,))[0] is clip_model.visual.transformer.resblocks[0].attn
    assert not parametrize.is_parametrized(clip_model.transformer.resblocks[0].attn)  # the text tower is left alone


def test_bad_towers_layers_or_slices_are_named():
    with pytest.raises(ValueError, match="towers must be a non-empty subset"):
        add_lora(tiny_clip_model(), 2, 1.0, towers=("audio",))
    with pytest.raises(ValueError, match=r"layers \[7\] do not exist in the text tower"):
        add_lora(tiny_clip_model(), 2, 1.0, layers=(7,))
    with pytest.raises(ValueError, match="slices must be a non-empty subset"):
        QKVLoRA(4, 2, 1.0, slices=("o",))


def test_trainer_trains_the_adapters_and_reloads_to_identical_metrics(tmp_path, ckpt):
    cfg = dcar_cfg(tmp_path / "run", ckpt, trainer="CLIP_LoRA", config=config_file("CLIP_LoRA"))
    cfg.OPTIM.MAX_EPOCH = 1
    t = build(cfg)
    names = [n for n, p in t._models["lora"].named_parameters() if p.requires_grad]
    assert names and all(".A." in n or ".B." in n for n in names)
    frozen = {n: p.detach().clone() for n, p in t.model.clip.named_parameters() if not p.requires_grad}
    t.train()
    assert all(torch.equal(frozen[n], p) for n, p in t.model.clip.named_parameters() if n in frozen)
    assert any(b.abs().sum() > 0 for lora in t._models["lora"] for b in lora.B.values())  # the adapters moved
    assert t.test() == reloaded_test(cfg)


def test_a_killed_run_resumes_to_the_uninterrupted_adapters(tmp_path, ckpt):
    resumed_equals_uninterrupted(lambda name: dcar_cfg(tmp_path / name, ckpt, trainer="CLIP_LoRA", config=config_file(
        "CLIP_LoRA"), OPTIM__MAX_EPOCH=2, DATASET__ROOT=str(tmp_path / "data")))


def test_clip_lora_stands_directly_on_the_base():
    from trainers.base import RetrievalTrainer
    from trainers.clip_lora import CLIP_LoRA

    assert CLIP_LoRA.__bases__ == (RetrievalTrainer,)
