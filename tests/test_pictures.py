"""evaluation.pictures: the gallery shows misses as well as hits, and where a miss's true match
ranked; its title stands clear of the panels; epoch ticks are whole numbers."""
import os

import torch
from PIL import Image

from evaluation.items import Item
from evaluation.pictures import pick_hits_and_misses, plot_curves, plot_gallery
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
    assert drawn["text"] == drawn["image"] == ["hit", "hit", "miss", "miss"]
    assert drawn["text_ranks"][:2] == drawn["image_ranks"][:2] == [1, 1] and min(drawn["text_ranks"][2:]) > 1
    assert os.path.getsize(tmp_path / "g.png") > 10_000


def _captured(monkeypatch):
    """The figures the pictures module would save, kept open for inspection."""
    figs = []
    monkeypatch.setattr("evaluation.pictures._save", lambda fig, path, dpi: figs.append(fig))
    return figs


def test_a_miss_says_where_the_true_match_ranked(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "red").save(path)
    items = [Item((f"caption {i}",), "D", impath=str(path)) for i in range(4)]
    feats = torch.eye(4)
    caption_feats = {f"caption {i}": feats[i] for i in range(4)}
    caption_feats["caption 0"] = torch.tensor([0.1, 0.9, 0.5, 0.0])  # its image ranks 3rd: after images 1 and 2
    figs = _captured(monkeypatch)
    drawn = plot_gallery(Snapshot(feats, items, caption_feats), str(tmp_path / "g.png"), n_text=2, n_image=2, top=3)
    assert drawn["text"] == ["hit", "miss"] and drawn["text_ranks"] == [1, 3]
    texts = [t.get_text() for ax in figs[0].axes for t in ax.texts]
    assert any(t.startswith("[miss: true image at rank 3]\ncaption 0") for t in texts)


def test_the_gallery_title_overlaps_no_panel_title(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    Image.new("RGB", (8, 8), "red").save(path)
    items = [Item((f"caption {i}",), "D", impath=str(path)) for i in range(6)]
    feats = torch.eye(6)
    figs = _captured(monkeypatch)
    plot_gallery(Snapshot(feats, items, {f"caption {i}": feats[i] for i in range(6)}), str(tmp_path / "g.png"))
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    panels = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert panels and not any(title.overlaps(p) for p in panels)


def test_curves_of_one_epoch_have_whole_epoch_ticks(tmp_path, monkeypatch):
    figs = _captured(monkeypatch)
    plot_curves([{"epoch": 1, "loss": 2.0, "val_i2t_R@1": 10.0, "val_t2i_R@1": 9.0}], str(tmp_path / "c.png"))
    for ax in figs[0].axes:
        assert list(ax.get_xticks()) == [1]


def test_curves_of_many_epochs_have_whole_ticks(tmp_path, monkeypatch):
    figs = _captured(monkeypatch)
    plot_curves([{"epoch": e, "loss": 1.0 / e} for e in range(1, 51)], str(tmp_path / "c.png"))
    ticks = figs[0].axes[0].get_xticks()
    assert len(ticks) < 15 and all(float(t).is_integer() for t in ticks)
