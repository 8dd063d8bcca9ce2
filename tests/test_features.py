"""The image-feature cache: cached training features train exactly as recomputed ones, no cache
under random augmentation or prompted images, eval features of a frozen tower computed once
(trainers/features.py)."""
import pytest
import torch

from tests.dcar_helpers import build, trainable, trainer_cfg


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
    cached = build(trainer_cfg(tmp_path, ckpt, name, **fixed))
    plain = build(trainer_cfg(tmp_path, ckpt, name, TRAINER__FEATURE_CACHE=False, **fixed))
    assert cached.features.train is not None and plain.features.train is None
    assert "img" not in next(iter(cached.train_loader_x)), "cached runs read no training image"
    a, b = _train_steps(cached), _train_steps(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_no_training_cache_with_random_augmentation_or_prompted_images(tmp_path, ckpt, capsys):
    random_crop = {"INPUT__TRANSFORMS": ("random_crop", "normalize")}
    assert build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter", **random_crop)).features.train is None
    assert "recomputed every step: INPUT.TRANSFORMS ['random_crop', 'normalize'] is random" in capsys.readouterr().out
    dcar = build(trainer_cfg(tmp_path, ckpt, "DCAR", INPUT__TRANSFORMS=("normalize",)))
    assert dcar.features.train is None and not dcar.features.enabled  # the image tower carries visual prompts


def test_eval_features_of_a_frozen_tower_are_computed_once(tmp_path, ckpt, monkeypatch):
    t = build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter"))
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
    dcar = build(trainer_cfg(tmp_path, ckpt, "DCAR"))
    assert not dcar.features.enabled
