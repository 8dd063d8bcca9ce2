"""RetrievalTrainer: when val is evaluated, TRAIN.VAL_FREQ checked, the fine-grained measures only
when asked (trainers/base.py)."""
import pytest

from tests.dcar_helpers import build, trainer_cfg


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
    t = build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter", OPTIM__MAX_EPOCH=3, TRAIN__VAL_FREQ=2, TEST__NO_TEST=False))
    seen, test = [], t.test
    monkeypatch.setattr(t, "test", lambda split=None: seen.append((t.epoch + 1, split)) or test(split))
    t.train()
    assert [e for e, split in seen if split == "val"] == [2, 3]
    assert [c["epoch"] for c in t.curves if "val_rsum" in c] == [2, 3]


def test_a_val_freq_below_minus_one_is_refused(tmp_path, ckpt):
    with pytest.raises(ValueError, match="TRAIN.VAL_FREQ must be a whole number >= -1"):
        build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter", TRAIN__VAL_FREQ=-2))


@pytest.mark.parametrize("fine_grained", [True, False])
def test_fine_grained_measures_only_when_asked(tmp_path, ckpt, fine_grained):
    """``TEST.FINE_GRAINED False``: the final evaluation has R@K and RSUM but no negative
    discrimination (fails if the key is ignored either way)."""
    t = build(trainer_cfg(tmp_path, ckpt, "CLIP_Adapter", TEST__FINE_GRAINED=fine_grained))
    t.test()
    metrics = t.last_results["test"]
    assert "rsum" in metrics and any(k.startswith("negdisc_") for k in metrics) == fine_grained
