"""FDRDSynth: deterministic generation in FDRD's format, read back through the FDRD loader."""
import hashlib
import json
import os

import engine
from datasets.fdrd.synth import SynthSpec, generate
from tests.fdrd_helpers import fdrd_cfg

SMALL = SynthSpec(num_domains=3, classes_per_domain=20, train_per_class=2, test_per_class=1, image_size=32, seed=0)


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
    assert set(entry) == {"file_name", "class_name", "file_path", "positive", "negative"}  # schema C
    assert entry["file_path"] == "YOUR_IMAGE_PATH" and entry["negative"] == []
    assert entry["positive"].startswith(f"This is a photo of {entry['class_name']}.")
    a = next(iter(test.values()))
    assert set(a) == {"file_name", "class_name", "number", "file_path", "positive", "negative"}  # schema A
    assert a["positive"].startswith(f"This is a {a['class_name']}.") and len(a["negative"]) == 4
    names = {e["class_name"] for e in train.values()}
    assert len(names) == 20


def test_loads_through_fdrd_loader(tmp_path):
    cfg = fdrd_cfg(tmp_path, ("all",), name="FDRDSynth")
    cfg.DATASET.FDRD_SYNTH.TRAIN_PER_CLASS = 3
    cfg.DATASET.FDRD_SYNTH.TEST_PER_CLASS = 2
    cfg.DATASET.FDRD_SYNTH.IMAGE_SIZE = 32
    ds = engine.build_dataset(cfg)
    assert ds.domain_names == ["SynthEmblem", "SynthBloom", "SynthBadge"]
    assert ds.num_classes == 60 and len(ds.test) == 120
    assert all(d.caption.startswith(f"This is a {d.classname}.") for d in ds.test)
    assert all(d.negatives_category and d.negatives_attribute for d in ds.test)
    one = engine.build_dataset(fdrd_cfg(tmp_path, ("SynthBloom",), name="FDRDSynth", **{}))  # settings changed: regenerated
    assert one.domain_names == ["SynthBloom"]
