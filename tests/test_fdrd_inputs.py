"""FDRD bad input, CoOp split files, custom domains, tokenisation and the check command."""
import json
import os
import shutil

import pytest

import engine
from datasets.fdrd.__main__ import main as fdrd_cli
from datasets.fdrd.captions import FDRDFormatError
from datasets.fdrd.loader import FDRDDataError
from datasets.text import encode, sot_eot, tokenize
from tests.fdrd_helpers import dtd_entries, fdrd_cfg, mini_dtd, write_captions


def _load(root, **kw):
    return engine.build_dataset(fdrd_cfg(root, ("DTD",), **kw))


def test_malformed_json_names_file_and_line(tmp_path):
    mini_dtd(tmp_path)
    path = tmp_path / "fdrd" / "inter_dtd_train.json"
    path.write_text('{\n "a_0001.jpg": {"positive": "x"},\n "b": \n}')
    with pytest.raises(FDRDFormatError, match=r"inter_dtd_train.json: invalid JSON at line 4, column 1"):
        _load(tmp_path)


def test_entry_missing_field_names_key_and_field(tmp_path):
    mini_dtd(tmp_path)
    entries = dtd_entries()
    del entries["dotted_0003.jpg"]["positive"]
    write_captions(tmp_path, "inter_dtd_train.json", entries)
    with pytest.raises(FDRDFormatError, match=r'entry "dotted_0003.jpg" has no "positive" field'):
        _load(tmp_path)
    ds = _load(tmp_path, SKIP_BAD_ENTRIES=True)
    assert len(ds.reports[0].bad_entries) == 1 and ds.reports[0].entries["train"] == 17


def test_missing_images_counted_with_examples_or_skipped(tmp_path, capsys):
    mini_dtd(tmp_path)
    for i in (1, 2):
        os.remove(tmp_path / "dtd" / "images" / "banded" / f"banded_{i:04d}.jpg")
    with pytest.raises(FDRDDataError, match=r"DTD: 2 of 24 images are missing under .*banded_0001.jpg"):
        _load(tmp_path)
    ds = _load(tmp_path, SKIP_BAD_IMAGES=True)
    assert ds.reports[0].skipped_images == 2 and len(ds.train_x) + len(ds.val) == 16
    out = capsys.readouterr().out
    assert "[DTD] missing images skipped: 2" in out and "[DTD]   missing image: " in out


def test_corrupt_image_is_a_clear_error_at_load(tmp_path):
    mini_dtd(tmp_path)
    (tmp_path / "dtd" / "images" / "striped" / "striped_0100.jpg").write_bytes(b"not an image")
    with pytest.raises(FDRDDataError, match=r"1 images cannot be read as images, e.g. .*striped_0100.jpg"):
        _load(tmp_path)
    ds = _load(tmp_path, SKIP_BAD_IMAGES=True)
    assert len(ds.test) == 5 and ds.reports[0].unreadable_images


def test_duplicates_and_overlength_are_counted(tmp_path, capsys):
    mini_dtd(tmp_path)
    entries = dtd_entries()
    entries["banded_0002.jpg"]["positive"] = entries["banded_0001.jpg"]["positive"]
    entries["dotted_0001.jpg"]["positive"] = "This is a photo of dotted." + " red dots" * 60
    text = json.dumps(entries)
    dup = '"banded_0001.jpg": ' + json.dumps(entries["banded_0001.jpg"])
    (tmp_path / "fdrd" / "inter_dtd_train.json").write_text(text[:-1] + ", " + dup + "}")
    report = _load(tmp_path).reports[0]
    assert report.duplicate_keys == 1 and report.duplicate_captions == 1 and report.overlength == 1
    out = capsys.readouterr().out
    assert "duplicate keys (last occurrence kept): 1" in out and "captions over 77 tokens" in out


def test_tokenize_truncates_keeping_end_of_text():
    sot, eot = sot_eot()
    long = "red " * 100
    ids, n = tokenize(["a cat", long], context_length=77, reserved=2)
    assert n == 1 and ids[1, 0] == sot and ids[1, 74] == eot and ids[1, 75:].sum() == 0
    assert ids[0, : len(encode("a cat")) + 2].tolist() == [sot, *encode("a cat"), eot]


def test_missing_file_error_and_skip(tmp_path, capsys):
    mini_dtd(tmp_path)
    os.remove(tmp_path / "fdrd" / "inter_dtd_test.json")
    with pytest.raises(FDRDDataError, match=r"DTD: a train file only, no test file in .*expected dtd_\{train,test\}.json.*"
                                            r"HOLDOUT_TEST"):
        _load(tmp_path)
    write_captions(tmp_path, "inter_caltech-101_test.json", {})
    with pytest.raises(FDRDFormatError, match="no usable entries"):
        engine.build_dataset(fdrd_cfg(tmp_path, ("Caltech101",), EVAL_ONLY=True))
    with pytest.raises(FDRDDataError, match="No domain could be loaded"):
        engine.build_dataset(fdrd_cfg(tmp_path, ("DTD", "Caltech101"), SKIP_MISSING_DOMAINS=True, EVAL_ONLY=True))
    mini_dtd(tmp_path)
    ds = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD", "Caltech101"), SKIP_MISSING_DOMAINS=True))
    assert ds.domain_names == ["DTD"]
    assert "Skipping domain Caltech101:" in capsys.readouterr().out


def test_split_file_gives_labels_names_and_val(tmp_path):
    train, _ = mini_dtd(tmp_path)
    rows = {"train": [], "val": [], "test": []}
    label = {"striped": 0, "dotted": 1, "banded": 2}  # not the sorted order
    for c in label:
        for i in range(1, 7):
            rows["train" if i <= 4 else "val"].append([f"{c}/{c}_{i:04d}.jpg", label[c], c])
        for i in range(100, 102):
            rows["test"].append([f"{c}/{c}_{i:04d}.jpg", label[c], c])
    (tmp_path / "dtd" / "split_zhou_DescribableTextures.json").write_text(json.dumps(rows))
    ds = _load(tmp_path)
    assert {(d.classname, d.label) for d in ds.test} == set(label.items())
    assert sorted(d.key for d in ds.val) == sorted(f"{c}_{i:04d}.jpg" for c in label for i in (5, 6))
    assert "split_zhou_DescribableTextures.json" in ds.reports[0].split_source


def test_custom_domain(tmp_path):
    img_dir = tmp_path / "mine"
    entries = {}
    for c in ("kite", "drone"):
        for i in range(4):
            rel = f"pics/{c}{i}.png"
            (img_dir / "pics").mkdir(parents=True, exist_ok=True)
            from tests.fdrd_helpers import TINY_PNG

            (img_dir / rel).write_bytes(TINY_PNG)
            entries[f"{c}_{i}"] = {"file_path": rel, "class_name": c, "positive": f"A small blue {c} in the sky.",
                                   "negative": []}
    cap = tmp_path / "mine.json"
    cap.write_text(json.dumps(entries))
    cfg = fdrd_cfg(tmp_path, ("MyKites",), CUSTOM_NAME="MyKites", CUSTOM_IMAGE_DIR=str(img_dir),
                   CUSTOM_TRAIN_FILE=str(cap), CUSTOM_TEST_FILE=str(cap))
    ds = engine.build_dataset(cfg)
    assert ds.domain_names == ["MyKites"] and len(ds.test) == 8 and ds.num_classes == 2
    assert all(d.negatives_category for d in ds.test)  # the other class swapped in
    assert ds.test[0].impath.startswith(str(img_dir))


def test_check_command_table_and_exit_status(tmp_path, capsys):
    mini_dtd(tmp_path)
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD"]) == 0
    out = capsys.readouterr().out
    assert "| DTD" in out and "ok" in out
    os.remove(tmp_path / "dtd" / "images" / "banded" / "banded_0001.jpg")
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD", "Food101"]) == 1
    out = capsys.readouterr().out
    assert "ERROR 1: Food101: no caption file in" in out and "1 bad images" in out


def test_check_counts_the_negatives_by_kind_and_writes_them_as_json(tmp_path, capsys):
    mini_dtd(tmp_path)
    rates = {}
    for mode in ("lexicon", "domain"):
        out = tmp_path / f"{mode}.json"
        assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD", "--attribute-swaps", mode,
                         "--json", str(out)]) == 0
        train = json.loads(out.read_text())["domains"]["DTD"]["train"]
        n = train["items"]  # the train file's pairs left after the val split
        assert n >= 12 and train["attribute_negatives_by_kind"] == {"colour": n}
        assert train["synonym_rate"] == 0.0 and train["fallback_rate"] == 0.0
        rates[mode] = train["out_of_domain_rate"]
    assert rates["domain"] == 0.0 and rates["lexicon"] > 0.5  # the lexicon swaps in colours DTD never names
    assert f"DTD train: attribute negatives by kind: colour {n}; synonym rate 0.0%" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "dtd" / "images")  # --captions-only: the same counts without any image
    out = tmp_path / "captions.json"
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD", "--captions-only", "--attribute-swaps",
                     "domain", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["domains"]["DTD"] == json.loads((tmp_path / "domain.json").read_text())["domains"]["DTD"]


def test_truncated_jpeg_is_caught_before_training(tmp_path, capsys):
    """A JPEG whose header is intact but whose data is cut: a named error at load, or a counted skip."""
    from PIL import Image

    mini_dtd(tmp_path)
    bad = tmp_path / "dtd" / "images" / "dotted" / "dotted_0100.jpg"
    _truncate(bad)
    with Image.open(bad) as img:
        assert img.size == (64, 64)  # the header alone looks fine
    with pytest.raises(FDRDDataError, match=r"1 images cannot be read as images, e.g. .*dotted_0100.jpg"):
        _load(tmp_path)
    ds = _load(tmp_path, SKIP_BAD_IMAGES=True)
    assert ds.reports[0].skipped_images == 1 and str(bad) not in {d.impath for d in ds.test}


def _truncate(path) -> None:
    """Cut a JPEG's data in half, keeping an intact header."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype("uint8")).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_check_names_every_bad_entry_and_image_on_screen_and_in_json(tmp_path, capsys):
    mini_dtd(tmp_path)
    bad = tmp_path / "dtd" / "images" / "dotted" / "dotted_0100.jpg"
    _truncate(bad)
    for i in (1, 2):
        os.remove(tmp_path / "dtd" / "images" / "banded" / f"banded_{i:04d}.jpg")
    entries = dtd_entries()
    del entries["dotted_0003.jpg"]["positive"]
    write_captions(tmp_path, "inter_dtd_train.json", entries)
    report = tmp_path / "check.json"
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD", "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "[DTD]   unreadable image: " + str(bad) in out
    assert "[DTD]   missing image: " + str(tmp_path / "dtd" / "images" / "banded" / "banded_0001.jpg") in out
    caption_file = tmp_path / "fdrd" / "inter_dtd_train.json"
    assert f'[DTD]   bad entry: {caption_file}: entry "dotted_0003.jpg" has no "positive"' in out
    problems = json.loads(report.read_text())["problems"]["DTD"]
    assert problems["unreadable_images"] == [str(bad)] and len(problems["missing_images"]) == 2
    assert len(problems["bad_entries"]) == 1


def test_check_shows_the_first_ten_and_the_json_has_all(tmp_path, capsys):
    mini_dtd(tmp_path, per_class=8)
    images = sorted((tmp_path / "dtd" / "images").rglob("*.jpg"))[:12]
    for path in images:
        os.remove(path)
    report = tmp_path / "check.json"
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD"]) == 1
    out = capsys.readouterr().out
    assert out.count("[DTD]   missing image: ") == 10 and "... and 2 more" in out and "--json FILE lists every" in out
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "DTD", "--json", str(report)]) == 1
    assert sorted(json.loads(report.read_text())["problems"]["DTD"]["missing_images"]) == sorted(map(str, images))


def test_a_missing_root_or_caption_folder_is_an_error(tmp_path, capsys):
    for command in ("check", "present"):
        assert fdrd_cli([command, "--root", str(tmp_path / "no")]) == 2
        assert capsys.readouterr().out.startswith(f"ERROR: --root {tmp_path / 'no'} does not exist")
        assert fdrd_cli([command, "--root", str(tmp_path)]) == 2
        assert f"has no fdrd/ folder: {tmp_path / 'fdrd'} does not exist" in capsys.readouterr().out
        assert fdrd_cli([command, "--root", str(tmp_path), "--caption-dir", str(tmp_path / "c")]) == 2
        assert f"ERROR: --caption-dir {tmp_path / 'c'} does not exist" in capsys.readouterr().out


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        fdrd_cli(["--help"])
    assert "{check,present,download,synth,build-captions}" in capsys.readouterr().out


def test_a_run_names_skipped_images_in_its_log_and_results(tmp_path, tiny_clip_files, capsys):
    import train

    mini_dtd(tmp_path)
    bad = tmp_path / "dtd" / "images" / "striped" / "striped_0100.jpg"
    _truncate(bad)
    out = tmp_path / "zs"
    train.run(["--root", str(tmp_path), "--trainer", "ZeroshotCLIP", "--output-dir", str(out), "--eval-only",
               "--dataset-config-file", "configs/datasets/fdrd_dtd.yaml",
               "--config-file", "configs/trainers/ZeroshotCLIP/synth.yaml", "MODEL.BACKBONE.NAME",
               tiny_clip_files["described"], "INPUT.SIZE", "(32, 32)", "DATASET.FDRD.SKIP_BAD_IMAGES", "True",
               "VERBOSE", "False"])
    assert f"[DTD]   unreadable image: {bad}" in (out / "log.txt").read_text()
    assert json.loads((out / "results.json").read_text())["skipped_data"] == {"DTD": {"unreadable_images": [str(bad)]}}


def test_more_shots_than_a_class_has_says_how_many_were_used(tmp_path, capsys):
    mini_dtd(tmp_path)  # 6 train-file images per class, 20% of them held out as val
    ds = _load(tmp_path, shots=100)
    out = capsys.readouterr().out
    assert f"{len(ds.train_x)} training images for 3 classes; 3 classes have fewer than 100 images" in out


def _swapped_in(ds) -> set[str]:
    """The words the attribute negatives of the training items bring in (absent from their caption)."""
    return {w for d in ds.train_x for a in d.negatives_attribute for w in set(a.split()) - set(d.caption.split())}


def test_attribute_swap_generator_is_a_config_key(tmp_path):
    mini_dtd(tmp_path)  # its captions name three colours: red, blue, green
    lexicon = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",)))
    domain = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), ATTRIBUTE_SWAPS="domain"))
    assert _swapped_in(domain) <= {"red", "blue", "green"}
    assert _swapped_in(lexicon) - {"red", "blue", "green"}  # the fixed lexicon brings in colours DTD never names
    with pytest.raises(ValueError, match="ATTRIBUTE_SWAPS must be lexicon or domain"):
        engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), ATTRIBUTE_SWAPS="fancy"))


def _negatives(items) -> list[tuple]:
    return [(d.negatives_category, d.negatives_attribute) for d in items]


def test_test_negatives_are_one_standard_set_whatever_the_run_trains_with(tmp_path):
    """Val/test negatives are the lexicon generator's at item seed 0 for every run (fails if they
    follow the run's seed or generator keys); train negatives follow them; ``EVAL_NEGATIVES
    training`` gives the old behaviour, which the standard set equals at seed 0 with the defaults;
    the retired value ``fixed`` (the set with synonym swaps) is refused with the fix."""
    mini_dtd(tmp_path)
    default = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), seed=0, EVAL_NEGATIVES="training"))
    other = dict(seed=3, ATTRIBUTE_SWAPS="domain", NUM_CATEGORY_NEGATIVES=1, NUM_ATTRIBUTE_NEGATIVES=2)
    fixed = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), **other))
    own = engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), EVAL_NEGATIVES="training", **other))
    assert _negatives(fixed.test) == _negatives(default.test) != _negatives(own.test)
    assert any(len(a) == 2 for _, a in _negatives(fixed.train_x))  # training keeps its own generator
    assert _negatives(fixed.train_x) == _negatives(own.train_x)
    with pytest.raises(ValueError, match="EVAL_NEGATIVES must be one of"):
        engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), EVAL_NEGATIVES="mine"))
    with pytest.raises(ValueError, match="'fixed' named the evaluation negatives made before near-synonyms.*Use 'standard'"):
        engine.build_dataset(fdrd_cfg(tmp_path, ("DTD",), EVAL_NEGATIVES="fixed"))
