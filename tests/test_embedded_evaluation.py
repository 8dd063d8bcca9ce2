"""engine/embedded/evaluation.py: top-k accuracy and Dassl's Classification evaluator against hand-computed accuracy,
macro-F1 (over the true classes only, as Dassl asks scikit-learn for), per-class accuracy and the
row-normalised confusion matrix."""
from types import SimpleNamespace as NS

import pytest
import torch

from engine.embedded.evaluation import Classification, compute_accuracy, macro_f1


def _logits(pred, classes=4):
    return torch.nn.functional.one_hot(torch.tensor(pred), classes).float()


def test_accuracy_error_and_macro_f1_by_hand(tmp_path, capsys):
    cfg = NS(TEST=NS(PER_CLASS_RESULT=True, COMPUTE_CMAT=True), OUTPUT_DIR=str(tmp_path))
    ev = Classification(cfg, lab2cname={0: "red", 1: "green", 2: "blue"})
    ev.process(_logits([0, 1, 1]), torch.tensor([0, 0, 1]))  # two batches, as a test loader gives them
    ev.process(_logits([1, 0]), torch.tensor([1, 2]))
    res = ev.evaluate()
    # F1: class 0 2*1/(2+1+1) = 0.5, class 1 2*2/(4+1) = 0.8, class 2 0 -> 43.33
    assert res["accuracy"] == pytest.approx(60.0) and res["error"] == pytest.approx(40.0)
    assert res["macro_f1"] == pytest.approx(100 * (0.5 + 0.8 + 0.0) / 3)
    assert res["perclass_accuracy"] == pytest.approx((50 + 100 + 0) / 3)
    assert torch.equal(torch.load(tmp_path / "cmat.pt", weights_only=True),
                       torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert "* class: 2 (blue)\taccuracy: 0.0%" in capsys.readouterr().out
    ev.reset()
    with pytest.raises(ValueError, match="no batch was processed"):
        ev.evaluate()


def test_macro_f1_averages_over_the_true_classes_only():
    """A predicted class that no item has (3) is not averaged in (a mean over 4 classes gives 36.7)."""
    got = macro_f1(torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 3]))
    assert got == pytest.approx(100 * (2 / 3 + 0.8 + 0.0) / 3)


def test_top_k_accuracy_by_hand():
    output = torch.tensor([[0.1, 0.5, 0.4], [0.9, 0.05, 0.05], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    top1, top2 = compute_accuracy(output, torch.tensor([2, 0, 2, 1]), topk=(1, 2))
    assert top1.item() == pytest.approx(50.0) and top2.item() == pytest.approx(100.0)
