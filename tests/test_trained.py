"""A finished run as a model and ``python -m trained retrieve`` (trained.py)
on a tiny DCAR run that uses every test-time part: CAA as text head and
blank-image token weights."""
import glob
import os
import shutil
import sys

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import engine
import train
import trained as cli
from tests.dcar_helpers import TINY_DCAR, small_synth_opts
from trained import load_trained, preprocess, run_config

TEST_TIME = ["TRAINER.DCAR.CAA.AT_TEST", "True", "TRAINER.DCAR.DTR.TEST_WEIGHTS", "blank"]


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_clip_files):
    tmp = tmp_path_factory.mktemp("trained")
    saved = sys.stdout  # train.run tees stdout into the run's log
    train.run(["--trainer", "DCAR", "--root", str(tmp / "data"), "--output-dir", str(tmp / "dcar"), "--seed", "1",
               "--dataset-config-file", "configs/datasets/fdrd_synth.yaml", "--config-file", TINY_DCAR,
               "MODEL.BACKBONE.NAME", tiny_clip_files["described"], *small_synth_opts(OPTIM__MAX_EPOCH=1), *TEST_TIME])
    if sys.stdout is not saved:
        sys.stdout.close()
        sys.stdout = saved
    return tmp / "dcar"


def _images(run, n):
    data = run_config(str(run)).DATASET.ROOT
    return sorted(glob.glob(os.path.join(data, "fdrd_synth", "*", "*", "images", "*.png")))[:n]


def test_load_trained_encodes_exactly_as_the_trainer_evaluated(run):
    model = load_trained(str(run), device="cpu")
    cfg = run_config(str(run))
    engine.set_random_seed(1)
    t = engine.build_trainer(cfg)
    t.load_model(str(run))
    t.set_model_mode("eval")
    caps = [it.caption for it in t.test_loader.dataset.data_source[:6]]
    tfm = preprocess(str(run))
    images = torch.stack([tfm(Image.open(p).convert("RGB")) for p in _images(run, 4)])
    with torch.no_grad():
        assert torch.equal(model.encode_text(caps), t.model.encode_text(caps))
        assert torch.equal(model.encode_image(images), t.model.encode_image(images))
        # both test-time parts are on: without the CAA head or the blank weights the features differ
        ids = model.tokenize(caps)
        assert not torch.allclose(model.text_features(ids), model.encode_text(caps), atol=1e-4)
        assert not torch.allclose(model.text_head(model.text_features(ids)), model.encode_text(caps), atol=1e-5)
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_retrieve_ranks_a_folder_for_a_query_with_the_models_scores(run, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for p in _images(run, 5):
        shutil.copy(p, folder)
    (folder / "broken.png").write_bytes(b"not an image")
    query = "a small red bird"
    assert cli.main(["retrieve", "--model-dir", str(run), "--images", str(folder), "--query", query, "--top", "3",
                     "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"skipped unreadable image: {folder / 'broken.png'}" in out and "1 of 6 images skipped" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    assert len(rows) == 3 and [int(r[0]) for r in rows] == [1, 2, 3]
    model, tfm = load_trained(str(run), device="cpu"), preprocess(str(run))
    with torch.no_grad():
        expected = {r[2]: F.cosine_similarity(model.encode_image(tfm(Image.open(r[2]).convert("RGB"))[None]),
                                              model.encode_text([query])).item() for r in rows}
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert scores == pytest.approx([expected[r[2]] for r in rows], abs=1e-4)


def test_retrieve_ranks_captions_for_an_image_and_names_bad_input(run, capsys):
    image = _images(run, 1)[0]
    assert cli.main(["retrieve", "--model-dir", str(run), "--image", image, "--query", "one", "--query", "two",
                     "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"image: {image}" in out and len([line for line in out.splitlines() if line.startswith("  ")]) == 2
    assert cli.main(["retrieve", "--model-dir", str(run), "--image", image, "--device", "cpu"]) == 2
    assert "ERROR: give at least one caption" in capsys.readouterr().out
    assert cli.main(["retrieve", "--model-dir", str(run.parent), "--image", image, "--query", "x"]) == 2
    assert "has no config.yaml" in capsys.readouterr().out
