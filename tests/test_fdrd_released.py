"""The released FDRD caption files (../shared/fdrd) load through the FDRD dataset."""
import json
import os

import pytest

import engine
from datasets.fdrd.domains import DOMAINS, find_domain, normalize_class
from datasets.fdrd.loader import image_path_in_domain
from datasets.negatives import class_pattern
from tests.fdrd_helpers import fdrd_cfg, layout_from
from tests.helpers import SHARED

RELEASED = os.path.join(SHARED, "fdrd")
FILES = sorted(os.listdir(RELEASED)) if os.path.isdir(RELEASED) else []
pytestmark = pytest.mark.skipif(not FILES, reason=f"released FDRD files not found at {RELEASED}")
EXPECTED_CLASSES = {"Flowers102": 102, "OxfordPets": 37, "Caltech101": 100, "DTD": 47}


@pytest.fixture(scope="module")
def released_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("coop_data")
    layout_from(str(root), [os.path.join(RELEASED, f) for f in FILES])
    return root


def _entries(fname):
    with open(os.path.join(RELEASED, fname), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize(
    "domain,key,fields,expected",
    [
        ("Caltech101", "Faces_image_0274.jpg", {"file_name": "Faces_image_0274.jpg", "class_name": "face"},
         "101_ObjectCategories/Faces/image_0274.jpg"),
        ("DTD", "banded_0060.jpg", {"file_name": "banded_0060.jpg"}, "images/banded/banded_0060.jpg"),
        ("StanfordCars", "cars_train_05266.jpg", {"file_name": "cars_train_05266.jpg"}, "cars_train/05266.jpg"),
        ("UCF101", "v_ApplyEyeMakeup_g12_c03.jpg", {"class_name": "Apply_Eye_Makeup"},
         "UCF-101-midframes/Apply_Eye_Makeup/v_ApplyEyeMakeup_g12_c03.jpg"),
        ("UCF101", "v_ApplyEyeMakeup_g12_c03.jpg", {}, "UCF-101-midframes/Apply_Eye_Makeup/v_ApplyEyeMakeup_g12_c03.jpg"),
        ("Flowers102", "monkshood_image_06422", {"number": "06422"}, "jpg/image_06422.jpg"),
        ("OxfordPets", "Sphynx_43", {"file_name": "Sphynx_43", "file_path": "/x/DATA/oxford_pets/images/Sphynx_43.jpg"},
         "images/Sphynx_43.jpg"),
        ("FGVCAircraft", "707-320_1514522", {"file_name": "1514522"}, "images/1514522.jpg"),
        ("Food101", "apple_pie_1005649.jpg", {"class_name": "apple_pie"}, "images/apple_pie/1005649.jpg"),
    ],
)
def test_image_paths_rebuilt_from_keys(domain, key, fields, expected):
    assert image_path_in_domain(find_domain(domain), key, fields, None) == (os.path.normpath(expected), False)


def test_class_from_key_for_schema_b():
    pets, aircraft = find_domain("pets"), find_domain("FGVCAircraft")
    assert pets.class_from_key("Sphynx_43") == "Sphynx"
    assert pets.class_from_key("american_bulldog_100") == "american_bulldog"
    assert aircraft.class_from_key("707-320_1514522") == "707-320"
    assert normalize_class("Apply_Eye_Makeup") == normalize_class("apply eye  makeup") == "apply eye makeup"


def test_every_released_file_loads(released_root):
    by_domain = {}
    for fname in FILES:
        from datasets.fdrd.domains import domain_for_file

        domain, split = domain_for_file(fname)
        by_domain.setdefault(domain.name, {})[split] = len(_entries(fname))
    for name, counts in by_domain.items():
        ds = engine.build_dataset(fdrd_cfg(released_root, (name,), EVAL_ONLY=True))
        report = ds.reports[0]
        assert report.entries == counts
        assert len(ds.test) == counts["test"]
        if "train" in counts:  # train file = train + val (held out per class, from the train file only)
            assert len(ds.train_x) + len(ds.val) == counts["train"]
            assert not {d.impath for d in ds.val} & {d.impath for d in ds.test}
        assert report.classes == EXPECTED_CLASSES[name] == len(ds.domain_classnames[0])
        assert {d.label for d in ds.test} == set(range(EXPECTED_CLASSES[name]))


def test_negatives_never_name_the_true_class_nor_equal_the_positive(released_root):
    names = sorted({find_domain(n).name for n in EXPECTED_CLASSES})
    ds = engine.build_dataset(fdrd_cfg(released_root, names, EVAL_ONLY=True))
    items = ds.test + ds.train_x + (ds.val or [])
    assert sum(bool(d.negatives_category) for d in items) > 0.95 * len(items)
    for d in items:
        pattern = class_pattern(normalize_class(d.classname))
        assert len(d.negatives_category) <= 4 and len(set(d.negatives_category)) == len(d.negatives_category)
        for neg in d.negatives_category:
            assert neg != d.caption and not pattern.search(neg), (d.key, neg)
        for neg in d.negatives_attribute:
            assert neg != d.caption and neg not in d.negatives_category
    pets = [r for r in ds.reports if r.domain == "OxfordPets"][0]
    assert pets.with_released_negatives == 3669 and pets.released_negatives_dropped > 0


def test_fewshot_is_seeded_and_cached(released_root, tmp_path):
    def subset(seed, cache):
        cfg = fdrd_cfg(released_root, ("Caltech101",), seed=seed, shots=2, CACHE_DIR=str(cache))
        ds = engine.build_dataset(cfg)
        return sorted(d.key for d in ds.train_x), sorted(d.key for d in ds.val)

    a = subset(1, tmp_path / "c1")
    b = subset(1, tmp_path / "c2")  # fresh cache: sampled again, identical
    c = subset(2, tmp_path / "c3")
    assert a == b and a != c
    assert len(a[0]) == 200  # 2 shots x 100 classes
    cached = os.listdir(tmp_path / "c1")
    assert len(cached) == 1 and cached[0].startswith("Caltech101_shot_2-seed_1-")
    assert subset(1, tmp_path / "c1") == a  # served from the cache


def test_all_means_every_domain_present_and_the_rest_is_listed(released_root):
    ds = engine.build_dataset(fdrd_cfg(released_root, ("all",)))  # training: domains with train and test files
    assert ds.domain_names == ["Caltech101", "DTD"]
    assert ds.skipped["OxfordPets"].startswith("a test file only") and ds.skipped["SUN397"].startswith("not present")
    ds = engine.build_dataset(fdrd_cfg(released_root, ("all",), EVAL_ONLY=True))
    assert set(ds.domain_names) == {"Caltech101", "OxfordPets", "Flowers102", "DTD"}
    assert len({d.label for d in ds.test}) == sum(EXPECTED_CLASSES.values())  # labels unique across domains
    assert [d.name for d in DOMAINS if d.name in ds.domain_names] == ds.domain_names
    with pytest.raises(ValueError, match=r"OxfordPets: a test file only, no train file .*EVAL_ONLY"):
        engine.build_dataset(fdrd_cfg(released_root, ("OxfordPets",)))  # named: an error, not a skip
