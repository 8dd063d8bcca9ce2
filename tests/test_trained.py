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


def _bomb(path):
    """A BMP whose header claims 20000 x 20000 pixels (PIL refuses it as a decompression bomb)."""
    import io
    import struct

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "BMP")
    data = bytearray(buf.getvalue())
    data[18:26] = struct.pack("<ii", 20000, 20000)  # BITMAPINFOHEADER width, height
    path.write_bytes(bytes(data))


def test_retrieve_skips_and_counts_a_bomb_image_and_notes_a_cut_query(run, tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for p in _images(run, 2):
        shutil.copy(p, folder)
    _bomb(folder / "huge.bmp")
    long_query = "a small red bird " * 600
    assert cli.main(["retrieve", "--model-dir", str(run), "--images", str(folder), "--query", long_query,
                     "--device", "cpu", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    assert f"skipped unreadable image: {folder / 'huge.bmp'} (DecompressionBombError" in out
    assert "1 of 3 images skipped" in out
    assert "Note: caption 1 (10,200 characters" in out and "only its first" in out


def test_retrieve_names_each_bad_input_in_one_line(run, tmp_path, capsys):
    image = _images(run, 1)[0]
    base = ["retrieve", "--model-dir", str(run), "--image", image]
    bad_utf8 = tmp_path / "caps.txt"
    bad_utf8.write_bytes(b"a red bird\n\xff\xfe broken\n")
    cases = [([*base, "--captions", str(tmp_path)], f"--captions {tmp_path} is not a file"),
             ([*base, "--captions", str(bad_utf8)], f"--captions {bad_utf8} is not UTF-8 text"),
             ([*base, "--query", "x", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
             ([*base, "--query", "x", "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
             ([*base, "--query", "  "], "--query number 1 is empty"),
             ([*base, "--query", "x", "--device", "gpu7"], "--device 'gpu7' is not a device")]
    if not torch.cuda.is_available():
        cases.append(([*base, "--query", "x", "--device", "cuda"], "--device cuda: this machine has 0 CUDA GPU(s)"))
    for argv, said in cases:
        assert cli.main(argv) == 2, argv
        out = capsys.readouterr().out
        assert f"ERROR: {said}" in out, out
        assert "Traceback" not in out


def _copy_run(run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    return copy


def test_a_damaged_run_folder_is_one_named_line(run, tmp_path, capsys):
    image = _images(run, 1)[0]
    copy = _copy_run(run, tmp_path)
    argv = ["retrieve", "--model-dir", str(copy), "--image", image, "--query", "x", "--device", "cpu"]
    (copy / "config.yaml").write_text("MODEL: {BACKBONE: [unclosed\n")
    assert cli.main(argv) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"ERROR: Config error in {copy / 'config.yaml'}: while parsing") and "It is the run's config" in out
    shutil.copy(run / "config.yaml", copy / "config.yaml")
    for ckpt in glob.glob(str(copy / "*" / "model*")):
        open(ckpt, "wb").write(open(ckpt, "rb").read()[:100])  # truncated by a failed copy
    assert cli.main(argv) == 2
    out = capsys.readouterr().out
    assert "ERROR: Checkpoint" in out and "is damaged or truncated" in out and "Traceback" not in out


def test_an_unfinished_run_is_noted_and_one_without_checkpoint_named(run, tmp_path, capsys):
    image = _images(run, 1)[0]
    copy = _copy_run(run, tmp_path)
    argv = ["retrieve", "--model-dir", str(copy), "--image", image, "--query", "x", "--device", "cpu"]
    os.remove(copy / "results.json")
    assert cli.main(argv) == 0
    assert f"Note: {copy} has no results.json: the run did not finish" in capsys.readouterr().out
    for path in glob.glob(str(copy / "*" / "model*")) + glob.glob(str(copy / "*" / "checkpoint")):
        os.remove(path)
    assert cli.main(argv) == 2
    assert "holds no checkpoint" in capsys.readouterr().out
