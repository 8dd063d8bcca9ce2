"""FDRDSynth: deterministic generation in FDRD's format, read back through the FDRD loader."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

import engine
from datasets.fdrd.__main__ import main as fdrd_cli
from datasets.fdrd.synth import SynthSpec, generate
from datasets.fdrd.synth_folder import MARKER, SynthFolderError, claim_home
from tests.fdrd_helpers import fdrd_cfg

SMALL = SynthSpec(num_domains=3, classes_per_domain=16, train_per_class=2, test_images_per_domain=12, image_size=32,
                  seed=0, val_images_per_domain=9)


def _digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            h.update(f.encode())
            with open(os.path.join(dirpath, f), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


def test_generation_is_deterministic(tmp_path):
    generate(str(tmp_path / "a"), SMALL, progress=False)
    generate(str(tmp_path / "b"), SMALL, progress=False)
    generate(str(tmp_path / "c"), SynthSpec(**{**SMALL.__dict__, "seed": 1}), progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")


def test_schemas_and_attributes(tmp_path):
    generate(str(tmp_path), SMALL, progress=False)
    train = json.load(open(tmp_path / "captions" / "inter_emblem_train.json"))
    test = json.load(open(tmp_path / "captions" / "emblem_test.json"))
    entry = next(iter(train.values()))
    assert set(entry) == {"file_name", "class_name", "file_path", "positive", "negative", "factors"}  # schema C + truth
    assert entry["file_path"] == "YOUR_IMAGE_PATH" and entry["negative"] == []
    assert entry["positive"].startswith(f"This is a photo of {entry['class_name']}.")
    a = next(iter(test.values()))
    assert {"file_name", "class_name", "number", "file_path", "positive", "negative"} <= set(a)  # schema A
    assert a["positive"].startswith(f"This is a {a['class_name']}.") and len(a["negative"]) == 4
    names = {e["class_name"] for e in train.values()}
    assert len(names) == 16


def test_loads_through_fdrd_loader(tmp_path):
    cfg = fdrd_cfg(tmp_path, ("all",), name="FDRDSynth")
    cfg.DATASET.FDRD_SYNTH.TRAIN_PER_CLASS = 3
    cfg.DATASET.FDRD_SYNTH.TEST_IMAGES_PER_DOMAIN = 40  # 14 twin groups of 3
    cfg.DATASET.FDRD_SYNTH.IMAGE_SIZE = 32
    ds = engine.build_dataset(cfg)
    assert ds.domain_names == ["SynthEmblem", "SynthBloom", "SynthBadge"]
    assert ds.num_classes == 48 and len(ds.test) == 126
    assert all(d.caption.startswith(f"This is a {d.classname}.") for d in ds.test)
    assert all(d.negatives_category and d.negatives_attribute for d in ds.test)
    one = engine.build_dataset(fdrd_cfg(tmp_path, ("SynthBloom",), name="FDRDSynth", **{}))  # other settings: own folder
    assert one.domain_names == ["SynthBloom"]


def test_the_val_gallery_is_shaped_like_test_and_shares_no_image(tmp_path):
    generate(str(tmp_path / "v"), SMALL, progress=False)
    generate(str(tmp_path / "n"), SynthSpec(**{**SMALL.__dict__, "val_images_per_domain": 0}), progress=False)
    caps = tmp_path / "v" / "captions"
    train, test, val = (json.load(open(caps / f)) for f in ("inter_emblem_train.json", "emblem_test.json",
                                                                "emblem_val.json"))
    assert len(val) == 9 and set(next(iter(val.values()))) == set(next(iter(test.values())))  # 3 twin groups, schema A
    roles = sorted(r for e in val.values() for r in e.get("twins", {}).values())
    assert roles.count("subcategory") == 6 and len(roles) == 12  # each group: base <-> sibling twin, base <-> attribute twin
    images = tmp_path / "v" / "emblem" / "images"
    digest = {k: hashlib.sha256((images / (k if k.endswith(".png") else f"{k}.png")).read_bytes()).hexdigest()
              for k in (*train, *test, *val)}
    assert not set(val) & (set(train) | set(test))
    assert not {digest[k] for k in val} & {digest[k] for k in (*train, *test)}  # no image repeated
    # val has its own random stream: train and test are the same bytes with or without it
    for f in ("inter_emblem_train.json", "emblem_test.json"):
        assert (caps / f).read_bytes() == (tmp_path / "n" / "captions" / f).read_bytes()
    assert not (tmp_path / "n" / "captions" / "emblem_val.json").exists()
    # a smaller val gallery is the start of a larger one (the same captions and images, in order)
    generate(str(tmp_path / "l"), SynthSpec(**{**SMALL.__dict__, "val_images_per_domain": 18}), progress=False)
    larger = json.load(open(tmp_path / "l" / "captions" / "emblem_val.json"))
    assert [e["positive"] for e in larger.values()][:9] == [e["positive"] for e in val.values()]
    first = next(iter(larger))
    assert (tmp_path / "l" / "emblem" / "images" / f"{first}.png").read_bytes() == (images / f"{first}.png").read_bytes()


@pytest.mark.parametrize("val_images", [9, 0])
def test_val_comes_from_the_val_file_whole_or_from_the_train_file(tmp_path, val_images):
    cfg = fdrd_cfg(tmp_path, ("SynthEmblem",), name="FDRDSynth")
    for k, v in {"TRAIN_PER_CLASS": 5, "TEST_IMAGES_PER_DOMAIN": 6, "IMAGE_SIZE": 16, "CLASSES_PER_DOMAIN": 4,
                 "VAL_IMAGES_PER_DOMAIN": val_images}.items():
        cfg.DATASET.FDRD_SYNTH[k] = v
    cfg.DATASET.NUM_SHOTS = 2
    ds = engine.build_dataset(cfg)
    val_keys = {d.key for d in ds.val}
    if val_images:  # the whole val gallery (not sampled with the shots), none of it from the train file
        assert len(ds.val) == 9 and all("_image_" in k for k in val_keys)
        assert all(d.twins for d in ds.val)
    else:  # CoOp's rule on the 20% held out of the train file: min(shots, 4) per class
        assert len(ds.val) == 4 * 1 and not any("_image_" in k for k in val_keys)
    assert len(ds.train_x) == 4 * 2 and not val_keys & {d.key for d in ds.train_x}


# ---------------------------------------------------------------- where FDRDSynth writes (synth_folder)
def _user_files(root):
    """A data root as users have it: other datasets and released caption files."""
    files = {root / "oxford_pets" / "images" / "Sphynx_1.jpg": b"jpeg", root / "fdrd" / "pets_test.json": b"{}"}
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _synth_cfg(root, **synth):
    cfg = fdrd_cfg(root, ("all",), name="FDRDSynth")
    for k, v in {"TRAIN_PER_CLASS": 1, "TEST_IMAGES_PER_DOMAIN": 3, "IMAGE_SIZE": 16, "CLASSES_PER_DOMAIN": 2,
                 "VAL_IMAGES_PER_DOMAIN": 3, **synth}.items():
        cfg.DATASET.FDRD_SYNTH[k] = v
    return cfg


@pytest.mark.parametrize("value", ["", ".", "ABS", "../elsewhere", "a/../.."])
def test_dir_outside_its_own_folder_is_refused_and_nothing_deleted(tmp_path, value):
    root = tmp_path / "data"
    files = _user_files(root)
    value = str(root) if value == "ABS" else value
    with pytest.raises(SynthFolderError, match=r"DATASET.FDRD_SYNTH.DIR .*(empty|absolute|inside)"):
        engine.build_dataset(_synth_cfg(root, DIR=value))
    assert all(p.read_bytes() == data for p, data in files.items())
    assert sorted(os.listdir(root)) == ["fdrd", "oxford_pets"] and sorted(os.listdir(tmp_path)) == ["data"]


def test_existing_foreign_folder_is_refused_by_loader_and_cli(tmp_path, capsys):
    root = tmp_path / "data"
    mine = root / "fdrd_synth" / "my_notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    with pytest.raises(SynthFolderError, match="is not an FDRDSynth folder"):
        engine.build_dataset(_synth_cfg(root))
    capsys.readouterr()
    assert fdrd_cli(["synth", "--root", str(root)]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ERROR: ") and "set DATASET.FDRD_SYNTH.DIR to a new folder" in out[0]
    assert os.listdir(mine.parent) == ["my_notes.txt"] and mine.read_text() == "mine"


def test_other_settings_get_their_own_folder_and_nothing_is_rewritten(tmp_path):
    root = tmp_path / "data"
    a = engine.build_dataset(_synth_cfg(root))
    folder_a = os.path.dirname(os.path.dirname(a.test[0].impath))
    before = _digest(folder_a)
    b = engine.build_dataset(_synth_cfg(root, SEED=3))  # other settings, e.g. a benchmark on a fresh draw
    assert os.path.dirname(os.path.dirname(b.test[0].impath)) != folder_a
    assert _digest(folder_a) == before  # a job reading folder A is undisturbed
    again = engine.build_dataset(_synth_cfg(root))
    assert [d.impath for d in again.test] == [d.impath for d in a.test] and _digest(folder_a) == before
    home = sorted(os.listdir(root / "fdrd_synth"))
    assert home[0] == ".fdrd_synth" and len([h for h in home if h.startswith("seed")]) == 2


def test_legacy_folder_is_adopted_untouched(tmp_path):
    root = tmp_path / "data"
    legacy = root / "fdrd_synth"
    (legacy / "captions").mkdir(parents=True)
    (legacy / "manifest.json").write_text(json.dumps({**SMALL.__dict__}))
    engine.build_dataset(_synth_cfg(root))
    assert (legacy / ".fdrd_synth").is_file() and (legacy / "manifest.json").is_file()


def test_concurrent_first_use_generates_once(tmp_path):
    """Two runs preparing the same fresh folder at once: one generates, the other waits for it."""
    root = tmp_path / "data"
    code = ("import sys; sys.path.insert(0, {repo!r}); import engine; from plugins import default_cfg, load_plugins; "
            "load_plugins(); from tests.test_fdrd_synth import _synth_cfg; import pathlib; "
            "ds = engine.build_dataset(_synth_cfg(pathlib.Path({root!r}), CLASSES_PER_DOMAIN=6)); print(len(ds.test))")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs = [subprocess.Popen([sys.executable, "-c", code.format(repo=repo, root=str(root))], cwd=repo,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all(o[0].strip().splitlines()[-1] == "9" for o in outs)  # 3 domains x 1 twin group of 3
    assert sum("Generating FDRDSynth" in o[0] for o in outs) == 1
    assert [h for h in os.listdir(root / "fdrd_synth") if not h.startswith(("seed", ".fdrd_synth"))] == []


def test_a_home_marked_by_another_process_since_the_first_look_is_accepted(tmp_path, monkeypatch):
    """The race of two first uses: the other process creates and marks the folder between this
    one's look for the marker and its look at the folder's contents."""
    home = tmp_path / "fdrd_synth"
    home.mkdir()
    (home / MARKER).write_text("marked meanwhile")
    real, looks = os.path.isfile, []

    def marker_appears_late(path):
        looks.append(path)
        return real(path) and len(looks) > 1

    monkeypatch.setattr("datasets.fdrd.synth_folder.os.path.isfile", marker_appears_late)
    assert claim_home(str(tmp_path), "fdrd_synth") == str(home)


def test_test_gallery_is_twin_groups_differing_in_one_factor(tmp_path):
    spec = SynthSpec(num_domains=1, classes_per_domain=8, train_per_class=2, test_images_per_domain=31, image_size=32,
                     val_images_per_domain=3)
    generate(str(tmp_path), spec, progress=False)
    test = json.load(open(tmp_path / "captions" / "emblem_test.json"))
    assert len(test) == 33  # rounded up to 11 groups of 3
    roles = []
    for key, e in test.items():
        for other, factor in e.get("twins", {}).items():
            a, b = e["factors"], test[other]["factors"]
            assert [f for f in a if a[f] != b[f]] == [factor]  # exactly the named factor differs
            assert test[other]["twins"][key] == factor
            old, new = (a[factor], b[factor])
            if factor == "subcategory":
                assert e["positive"].replace(old, new) == test[other]["positive"]
            roles.append(factor)
    assert roles.count("subcategory") == 2 * 11  # every group has a sibling-subcategory twin
    assert {"colour", "background", "size", "position", "pattern"} <= set(roles)
    by_group = {}
    for e in test.values():
        by_group.setdefault(e["group"], []).append(e)
    assert all(len(g) == 3 for g in by_group.values())
    captions = [e["positive"] for e in by_group[0]]
    assert len(set(captions)) == 3 and len({c.split(".", 1)[1].count(" ") for c in captions}) <= 2  # same template


def test_the_world_is_fixed_across_data_seeds(tmp_path):
    a = SynthSpec(num_domains=1, classes_per_domain=4, train_per_class=1, test_images_per_domain=3, image_size=32,
                  val_images_per_domain=3)
    generate(str(tmp_path / "a"), a, progress=False)
    generate(str(tmp_path / "b"), SynthSpec(**{**a.__dict__, "seed": 5}), progress=False)
    names = [{e["class_name"] for e in json.load(open(tmp_path / d / "captions" / "inter_emblem_train.json")).values()}
             for d in ("a", "b")]
    assert names[0] == names[1]  # the same subcategory names: the pretrained backbone's world


def test_settings_that_would_be_ignored_are_refused(tmp_path):
    """A CAPTION_DIR FDRDSynth never reads, and NUM_SHOTS -3 (it meant "all data"), stop with the fix."""
    cfg = _synth_cfg(tmp_path / "data")
    cfg.DATASET.FDRD.CAPTION_DIR = str(tmp_path / "my_captions")
    with pytest.raises(ValueError, match="DATASET.FDRD.CAPTION_DIR is set .* FDRDSynth reads the captions it generates"):
        engine.build_dataset(cfg)
    cfg = _synth_cfg(tmp_path / "data")
    cfg.DATASET.NUM_SHOTS = -3
    with pytest.raises(ValueError, match="DATASET.NUM_SHOTS must be .* or -1 for all of them, got -3"):
        engine.build_dataset(cfg)
