"""The model's text passes (trimmed, length-grouped), the image-feature cache, caption batching,
the global-batch sampler and fp32 losses (trainers/model.py, base.py, loaders.py)."""
import pytest
import torch
from torch.utils.data import RandomSampler

from datasets.text import encode, tokenize
from evaluation.retrieval import Retrieval
from tests.dcar_helpers import build, config_file, dcar_cfg, trainable
from trainers.loaders import GlobalBatchSampler
from trainers.model import assemble_text, encode_text, length_groups

CONFIGS = {t: config_file(t) for t in ("CoOp", "CLIP_Adapter", "DCAR", "ZeroshotCLIP")}
CAPTIONS = ["a red emblem.", "This is a photo of Migal. A small red emblem with a thin white border, drawn at the "
            "centre of a square canvas, with a pale background.", "x"]


def _cfg(tmp_path, ckpt, trainer, **opts):
    return dcar_cfg(tmp_path, ckpt, trainer=trainer, config=CONFIGS[trainer], **opts)


def test_prompted_text_up_to_longest_caption_equals_full_context(tmp_path, ckpt):
    t = build(_cfg(tmp_path, ckpt, "DCAR"))
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
    t = build(_cfg(tmp_path, ckpt, "DCAR"))
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


@pytest.mark.parametrize("name", ["DCAR", "ZeroshotCLIP"])
def test_text_trim_switch_changes_cost_not_features(tmp_path, ckpt, name):
    trimmed = build(_cfg(tmp_path, ckpt, name))
    full = build(_cfg(tmp_path, ckpt, name, TRAINER__TEXT_TRIM=False))
    with torch.no_grad():
        assert torch.allclose(trimmed.model.encode_text(CAPTIONS), full.model.encode_text(CAPTIONS), atol=1e-5, rtol=1e-5)
    if name == "ZeroshotCLIP":  # the plain path equals CLIP's own encode_text
        with torch.no_grad():
            ref = trimmed.model.clip.encode_text(tokenize(CAPTIONS)[0])
        assert torch.allclose(trimmed.model.encode_text(CAPTIONS), ref, atol=1e-5, rtol=1e-5)


def test_evaluation_batches_captions_by_token_length(tmp_path, ckpt):
    cfg = _cfg(tmp_path, ckpt, "ZeroshotCLIP", TEST__RETRIEVAL__TEXT_BATCH_SIZE=2)
    strings = ["a b c d e f g h", "a", "a b c d", "a b", "a b c d e f", "a b c"]
    seen = []

    def encode_fn(batch):
        seen.append(batch)
        return torch.ones(len(batch), 4)

    feats = Retrieval(cfg).encode_captions(strings, encode_fn)
    assert set(feats) == set(strings)
    assert [[len(encode(s)) for s in b] for b in seen] == [[1, 2], [3, 4], [6, 8]]


def _train_steps(t, steps=3):
    t.set_model_mode("train")
    t.num_batches = 10**6
    torch.manual_seed(0)
    batches = iter(t.train_loader_x)
    for t.batch_idx in range(steps):
        t.forward_backward(next(batches))
    return {k: v.detach().clone() for k, v in trainable(t).state_dict().items()}


@pytest.mark.parametrize("name", ["CLIP_Adapter", "CoOp"])
def test_cached_training_features_are_exact(tmp_path, ckpt, name):
    fixed = {"INPUT__TRANSFORMS": ("normalize",), "DATALOADER__TRAIN_X__BATCH_SIZE": 4}
    cached = build(_cfg(tmp_path, ckpt, name, **fixed))
    plain = build(_cfg(tmp_path, ckpt, name, TRAINER__FEATURE_CACHE=False, **fixed))
    assert cached.features.train is not None and plain.features.train is None
    assert "img" not in next(iter(cached.train_loader_x)), "cached runs read no training image"
    a, b = _train_steps(cached), _train_steps(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_no_training_cache_with_random_augmentation_or_prompted_images(tmp_path, ckpt, capsys):
    random_crop = {"INPUT__TRANSFORMS": ("random_crop", "normalize")}
    assert build(_cfg(tmp_path, ckpt, "CLIP_Adapter", **random_crop)).features.train is None
    assert "recomputed every step: INPUT.TRANSFORMS ['random_crop', 'normalize'] is random" in capsys.readouterr().out
    dcar = build(_cfg(tmp_path, ckpt, "DCAR", INPUT__TRANSFORMS=("normalize",)))
    assert dcar.features.train is None and not dcar.features.enabled  # the image tower carries visual prompts


def test_eval_features_of_a_frozen_tower_are_computed_once(tmp_path, ckpt, monkeypatch):
    t = build(_cfg(tmp_path, ckpt, "CLIP_Adapter"))
    calls = []
    tower = t.model.image_tower
    monkeypatch.setattr(t.model, "image_tower", lambda images, prompts=None: calls.append(len(images)) or tower(images))
    results, evaluate = [], t.evaluator.evaluate
    monkeypatch.setattr(t.evaluator, "evaluate", lambda *a, **k: results.append(evaluate(*a, **k)) or results[-1])
    t.test()
    n, first = sum(calls), results[-1].snapshot.features.clone()
    with torch.no_grad():  # the adapter still applies to the cached features
        t.model.image_head.fc2.weight.add_(0.5)
    t.test()
    assert n == len(t.test_loader.dataset) and sum(calls) == n
    assert not torch.allclose(first, results[-1].snapshot.features)
    dcar = build(_cfg(tmp_path, ckpt, "DCAR"))
    assert not dcar.features.enabled


@pytest.mark.parametrize("n,batch,drop_last", [(10, 4, True), (10, 4, False), (8, 8, True)])
def test_global_batch_sampler_single_process_is_random_sampler_order(n, batch, drop_last):
    torch.manual_seed(3)
    batches = list(GlobalBatchSampler(n, batch, shuffle=True, drop_last=drop_last))
    torch.manual_seed(3)
    order = list(RandomSampler(range(n)))
    flat = [i for b in batches for i in b]
    assert flat == order[:len(flat)]
    assert len(batches) == (n // batch if drop_last else -(-n // batch))
    assert all(len(b) == batch for b in batches[:-1])
    assert list(GlobalBatchSampler(n, batch, shuffle=False, drop_last=False))[0] == list(range(min(batch, n)))


def test_losses_and_similarities_stay_fp32_under_autocast():
    from trainers.dcar.objective import category_loss
    from trainers.model import contrastive_loss

    torch.manual_seed(0)
    img, txt = torch.randn(8, 64), torch.randn(8, 64)
    cands, valid, w = torch.randn(8, 5, 64), torch.ones(8, 5, dtype=torch.bool), torch.ones(8, 5)
    ref = contrastive_loss(img, txt, 100.0), category_loss(img, cands, valid, w, 100.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 matmuls would move these by ~1e-2
        assert torch.matmul(img, txt.T).dtype == torch.bfloat16
        got = contrastive_loss(img, txt, 100.0), category_loss(img, cands, valid, w, 100.0)
    assert all(g.dtype == torch.float32 and torch.equal(g, r) for g, r in zip(got, ref))


@pytest.mark.parametrize("freq, split, no_test, validated",
                         [(1, "test", False, [1, 2, 3, 4, 5]), (2, "test", False, [2, 4, 5]), (3, "test", False, [3, 5]),
                          (0, "test", False, [5]), (2, "val", False, [2, 4]), (0, "val", False, []),
                          (0, "val", True, [5]), (-1, "test", False, [])])
def test_val_is_due_every_val_freq_epochs_and_after_the_last(freq, split, no_test, validated):
    """The last epoch is validated unless the final evaluation is on val (it stands for it)."""
    from types import SimpleNamespace as NS

    from trainers.base import RetrievalTrainer

    cfg = NS(TRAIN=NS(VAL_FREQ=freq), TEST=NS(SPLIT=split, NO_TEST=no_test))
    assert [e + 1 for e in range(5) if RetrievalTrainer.val_due(NS(max_epoch=5, cfg=cfg, epoch=e))] == validated


def test_a_run_validates_only_when_due(tmp_path, ckpt, monkeypatch):
    t = build(_cfg(tmp_path, ckpt, "CLIP_Adapter", OPTIM__MAX_EPOCH=3, TRAIN__VAL_FREQ=2, TEST__NO_TEST=False))
    seen, test = [], t.test
    monkeypatch.setattr(t, "test", lambda split=None: seen.append((t.epoch + 1, split)) or test(split))
    t.train()
    assert [e for e, split in seen if split == "val"] == [2, 3]
    assert [c["epoch"] for c in t.curves if "val_rsum" in c] == [2, 3]


def test_a_val_freq_below_minus_one_is_refused(tmp_path, ckpt):
    with pytest.raises(ValueError, match="TRAIN.VAL_FREQ must be a whole number >= -1"):
        build(_cfg(tmp_path, ckpt, "CLIP_Adapter", TRAIN__VAL_FREQ=-2))


@pytest.mark.parametrize("fine_grained", [True, False])
def test_fine_grained_measures_only_when_asked(tmp_path, ckpt, fine_grained):
    """``TEST.FINE_GRAINED False``: the final evaluation has R@K and RSUM but no negative
    discrimination (fails if the key is ignored either way)."""
    t = build(_cfg(tmp_path, ckpt, "CLIP_Adapter", TEST__FINE_GRAINED=fine_grained))
    t.test()
    metrics = t.last_results["test"]
    assert "rsum" in metrics and any(k.startswith("negdisc_") for k in metrics) == fine_grained
