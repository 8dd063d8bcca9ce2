"""evaluation.discrimination: negative discrimination by kind and twin accuracy, by hand."""
import pytest
import torch

from evaluation.discrimination import negative_discrimination, negatives_by_kind, twin_accuracy
from evaluation.items import Item


def _item(caption, cat=(), attr=(), kinds=(), key="", twins=()):
    return Item((caption,), key=key, negatives_category=cat, negatives_attribute=attr,
                negatives_attribute_kinds=kinds, twins=twins)


def test_negatives_grouped_by_kind():
    item = _item("p", cat=("c1", "c2"), attr=("a1", "a2"), kinds=("colour", "size"))
    assert negatives_by_kind(item) == {"category": ["c1", "c2"], "attribute": ["a1", "a2"], "attribute_colour": ["a1"],
                                       "attribute_size": ["a2"], "all": ["c1", "c2", "a1", "a2"]}
    assert negatives_by_kind(_item("p")) == {}


def test_negative_discrimination_by_hand():
    e = torch.eye(3)
    img = torch.stack([e[0], e[1]])
    feats = {"p0": e[0], "c0": 0.5 * e[0] + e[1], "a0": e[0] + 0.1 * e[2],
             "p1": e[1] + e[2], "c1": e[1], "a1": e[2]}
    items = [_item("p0", cat=("c0",), attr=("a0",), kinds=("colour",)),
             _item("p1", cat=("c1",), attr=("a1",), kinds=("size",))]
    got = negative_discrimination(img, items, feats)
    # image 0: pos 1.0 > cat 0.447 and > attr 0.995; image 1: pos 0.707 < cat 1.0, > attr 0.0
    assert got == {"negdisc_all": 50.0, "negdisc_category": 50.0, "negdisc_attribute": 100.0,
                   "negdisc_attribute_colour": 100.0, "negdisc_attribute_size": 100.0}
    assert list(got)[:2] == ["negdisc_all", "negdisc_category"]


def test_twin_accuracy_by_hand():
    e = torch.eye(2)
    items = [_item("a", key="a", twins=(("b", "colour"),)), _item("b", key="b", twins=(("a", "colour"),)),
             _item("c", key="c", twins=(("missing", "size"),))]
    img = torch.stack([e[0], e[0] + 0.2 * e[1], e[1]])
    txt = torch.stack([e[0], e[1], e[1]])
    got = twin_accuracy(img, txt, items)
    # a: i2t  img_a.txt_a=1 > img_a.txt_b=0 (hit); t2i txt_a.img_a=1 > txt_a.img_b=0.98 (hit)
    # b: i2t  img_b.txt_b=0.196 > img_b.txt_a=0.981? no (miss); t2i txt_b.img_b=0.196 > txt_b.img_a=0 (hit)
    assert got == {"twin_i2t_colour": 50.0, "twin_t2i_colour": 100.0}
    with pytest.raises(KeyError):
        negative_discrimination(img[:1], [_item("x", cat=("y",))], {"x": e[0]})  # every caption needs a feature


def test_token_features_are_scored_by_late_interaction():
    """Patch tokens and word tokens (FILIP) by hand. Image A (1,0),(0,1); caption p: words (1,0) and
    (0,1) -> i2t 1.0; negative n: word (1,0) alone -> i2t 0.5: discriminated. The text-to-image
    scores tie (1.0 both), so the test fails if that direction decides. Image B (1,0),(1,0) scores
    p and n both 1.0: a tie, a miss."""
    x, y = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    a, b = torch.stack([x, y]), torch.stack([x, x])
    feats = {"p": torch.stack([x, y]), "n": x[None]}
    assert negative_discrimination(torch.stack([a]), [_item("p", cat=("n",))], feats)["negdisc_category"] == 100.0
    assert negative_discrimination(torch.stack([b]), [_item("p", cat=("n",))], feats)["negdisc_category"] == 0.0
    items = [_item("p", key="A", twins=(("B", "colour"),)), _item("n", key="B", twins=(("A", "colour"),))]
    got = twin_accuracy(torch.stack([a, b]), [feats["p"], feats["n"]], items)
    # A: i2t p 1.0 > n 0.5 (hit); t2i caption p: A 1.0 > B 0.5 (hit). B: i2t n 1.0 vs p 1.0 (tie: miss);
    # t2i caption n: B 1.0 vs A 1.0 (tie: miss)
    assert got == {"twin_i2t_colour": 50.0, "twin_t2i_colour": 50.0}
