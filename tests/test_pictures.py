"""evaluation.pictures: the gallery shows misses as well as hits."""
import os

import torch
from PIL import Image

from evaluation.items import Item
from evaluation.pictures import pick_hits_and_misses, plot_gallery
from evaluation.retrieval import Snapshot


def test_pick_half_hits_half_misses_when_both_exist():
    hit = [True] * 8 + [False] * 2
    assert pick_hits_and_misses(hit, 4) == [0, 7, 8, 9]  # 2 hits (spread), 2 misses
    assert pick_hits_and_misses([True] * 5, 3) == [0, 2, 4]  # no misses: hits fill in
    assert pick_hits_and_misses([False, True, False, False], 3) == [1, 0, 3]  # one hit only
    assert pick_hits_and_misses([True, False], 4) == [0, 1]  # fewer queries than asked


def test_gallery_is_drawn_with_misses(tmp_path):
    path = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "red").save(path)
    items = [Item((f"caption {i}",), "D", impath=str(path)) for i in range(6)]
    feats = torch.eye(6)
    caption_feats = {f"caption {i}": feats[(i + 1) % 6 if i < 3 else i] for i in range(6)}  # 3 misses, 3 hits
    drawn = plot_gallery(Snapshot(feats, items, caption_feats), str(tmp_path / "g.png"))
    assert drawn == {"text": ["hit", "hit", "miss", "miss"], "image": ["hit", "hit", "miss", "miss"]}
    assert os.path.getsize(tmp_path / "g.png") > 10_000
