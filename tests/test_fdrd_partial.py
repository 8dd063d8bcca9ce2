"""Partial FDRD releases (the normal case): a root holding only FGVCAircraft test, StanfordCars train
and UCF101 train/test caption files, with the released files' names, schemas and counts, and
images at CoOp's paths. ``check`` reports what is present, training uses what it can, and a
train-only domain can be evaluated on a held-out part of its train file."""
import json
import os
import subprocess
import sys

import pytest

import engine
from datasets.fdrd.__main__ import main as fdrd_cli
from datasets.fdrd.loader import FDRDDataError
from tests.fdrd_helpers import fdrd_cfg, write_captions, write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = {"FGVCAircraft": (100, None, 3333), "StanfordCars": (196, 8144, None), "UCF101": (101, 9537, 3783)}


def _spread(n_items: int, n_classes: int) -> list[int]:
    """The class of each of ``n_items`` items, every class used."""
    return [i % n_classes for i in range(n_items)]


def _aircraft_test() -> dict:
    """Schema B as released: key "<variant>_<image id>", no class_name, four category negatives."""
    out = {}
    for i, c in enumerate(_spread(3333, 100)):
        variant, image = f"7{c:02d}-{c}", f"{1000000 + i}"
        caption = f"A white {variant} airplane on the runway, item {i}."
        out[f"{variant}_{image}"] = {"file_name": image, "file_path": "YOUR_IMAGE_PATH", "positive": caption,
                                     "negative": [caption.replace(variant, f"7{(c + k) % 100:02d}-{(c + k) % 100}")
                                                  for k in range(1, 5)]}
    return out


def _cars_train() -> dict:
    out = {}
    for i, c in enumerate(_spread(8144, 196)):
        key = f"cars_train_{i + 1:05d}.jpg"
        out[key] = {"file_name": key, "class_name": f"2012 Make Model{c}", "file_path": "YOUR_IMAGE_PATH",
                    "positive": f"This is a photo of 2012 Make Model{c}.A red car, item {i}.", "negative": []}
    return out


def _ucf(n: int, start_group: int) -> dict:
    out = {}
    for i, c in enumerate(_spread(n, 101)):
        action = f"Act{chr(65 + c // 26)}{chr(97 + c % 26)}"
        key = f"v_{action}_g{start_group + i // 101:03d}_c01.jpg"
        out[key] = {"file_name": key, "class_name": f"Act_{action[3:]}", "file_path": "YOUR_IMAGE_PATH",
                    "positive": f"This is a photo of Act_{action[3:]}.Someone moves, item {i}.", "negative": []}
    return out


@pytest.fixture(scope="module")
def partial_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial")
    for name, entries in (("plane_test.json", _aircraft_test()), ("inter_car_train.json", _cars_train()),
                          ("inter_ucf101_train.json", _ucf(9537, 1)), ("inter_ucf101_test.json", _ucf(3783, 500))):
        write_images(str(root), write_captions(str(root), name, entries))
    return root


def test_check_reports_present_domains_and_exits_0(partial_root, capsys):
    assert fdrd_cli(["check", "--root", str(partial_root)]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("| domain")}
    assert rows["FGVCAircraft"][:3] == ["100", "-", "3,333"] and rows["FGVCAircraft"][-1] == "test file only: evaluation only"
    assert rows["FGVCAircraft"][3] == "3,333"  # released negatives, counted from the caption file
    assert rows["StanfordCars"][:3] == ["196", "8,144", "-"] and rows["StanfordCars"][-1].startswith("train file only: can train")
    assert rows["UCF101"][:3] == ["101", "9,537", "3,783"] and rows["UCF101"][-1] == "ok"
    for absent in ("Caltech101", "OxfordPets", "Flowers102", "Food101", "SUN397", "DTD"):
        assert rows[absent][-1] == "not present"
    assert "3 of 9 domains present" in out and "all of them valid" in out


def test_check_of_a_named_absent_domain_fails(partial_root, capsys):
    assert fdrd_cli(["check", "--root", str(partial_root), "--domains", "StanfordCars", "SUN397"]) == 1
    out = capsys.readouterr().out
    assert "ERROR 1: SUN397: no caption file in" in out and "sun397_{train,test}.json" in out


def test_released_negatives_are_counted_without_images(tmp_path, capsys):
    write_captions(str(tmp_path), "plane_test.json", _aircraft_test())
    assert fdrd_cli(["check", "--root", str(tmp_path), "--domains", "FGVCAircraft"]) == 1  # images missing
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| FGVCAircraft")][0]
    assert [c.strip() for c in row.split("|")[2:7]] == ["100", "-", "3,333", "3,333", "3,333"]


def test_training_uses_the_domains_present_and_says_which_were_skipped(partial_root, capsys):
    ds = engine.build_dataset(fdrd_cfg(partial_root, ("all",), shots=1))
    assert ds.domain_names == ["UCF101"]
    assert ds.skipped["StanfordCars"].startswith("a train file only") and "HOLDOUT_TEST" in ds.skipped["StanfordCars"]
    assert ds.skipped["FGVCAircraft"].startswith("a test file only") and ds.skipped["SUN397"].startswith("not present")
    out = capsys.readouterr().out
    assert "Domain StanfordCars: a train file only" in out and "Domain Food101: not present" in out


def test_train_only_domain_with_held_out_test_or_no_test(partial_root):
    with pytest.raises(FDRDDataError, match=r"StanfordCars: a train file only.*HOLDOUT_TEST.*eval.sh"):
        engine.build_dataset(fdrd_cfg(partial_root, ("StanfordCars",), shots=1))
    ds = engine.build_dataset(fdrd_cfg(partial_root, ("StanfordCars",), shots=1, HOLDOUT_TEST=0.2))
    assert {d.label for d in ds.test} == set(range(196)) and 1500 <= len(ds.test) <= 1700
    held = {d.key for d in ds.test}
    assert not held & {d.key for d in ds.train_x + (ds.val or [])}
    again = engine.build_dataset(fdrd_cfg(partial_root, ("StanfordCars",), seed=2, shots=1, HOLDOUT_TEST=0.2))
    assert {d.key for d in again.test} == held  # the same test split for every seed
    cfg = fdrd_cfg(partial_root, ("StanfordCars", "UCF101"), shots=1)
    cfg.TEST.NO_TEST = True  # train on Cars, evaluate elsewhere later
    ds = engine.build_dataset(cfg)
    assert ds.not_evaluated == {"StanfordCars": "a train file only: trained, not evaluated"}
    assert {d.domain_name for d in ds.test} == {"UCF101"}


def test_present_lists_domains_with_both_files(partial_root):
    res = subprocess.run([sys.executable, "-m", "datasets.fdrd", "present", "--root", str(partial_root)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.split() == ["UCF101"]
    assert "StanfordCars: train file only" in res.stderr and "SUN397: not present" in res.stderr


@pytest.mark.slow
def test_main_sh_fdrd_runs_the_domains_present(tmp_path, tiny_clip_files):
    """``main.sh ZeroshotCLIP fdrd``: one run per domain present, the others skipped with the reason."""
    from tests.fdrd_helpers import mini_dtd

    data = tmp_path / "data"
    mini_dtd(str(data))
    env = dict(os.environ, DATA=str(data), CFG="synth", SEEDS="1", OUTPUT_ROOT=str(tmp_path / "out"),
               PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    res = subprocess.run(["bash", "scripts/common/main.sh", "ZeroshotCLIP", "fdrd", "-1",
                          "MODEL.BACKBONE.NAME", tiny_clip_files["described"], "INPUT.SIZE", "(32, 32)"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Skipping fdrd_caltech101: Caltech101: not present" in res.stdout
    assert (tmp_path / "out" / "fdrd_dtd" / "ZeroshotCLIP" / "synth_-1shots" / "seed1" / "results.json").is_file()
    assert json.loads((tmp_path / "out" / "fdrd_skipped.json").read_text())["fdrd_sun397"] == "SUN397: not present"
