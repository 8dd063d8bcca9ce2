"""datasets/captioning/build.py: FDRDSynth images in, a caption file out that trains and evaluates
through train.py; a killed run resumes with nothing lost or doubled; inputs and outcomes counted."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from datasets.captioning.build import images_from_folder, main
from datasets.fdrd.synth import SynthSpec, generate, write_image_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("synth") / "fdrd_synth")
    generate(folder, SynthSpec(1, 8, 6, 24, 32, 0), progress=False)
    lists = {}
    for split in ("train", "test"):
        lists[split] = os.path.join(os.path.dirname(folder), f"{split}.csv")
        write_image_list(folder, split, lists[split])
    return folder, lists


def _argv(folder, image_list, out, *more):
    return ["--image-list", image_list, "--image-root", folder, "--domain", "FDRDSynth", "--out", str(out),
            "--backend", "synth", "--synth-folder", folder, "--reviewer", "same", *more]


def test_builds_a_file_that_trains_and_evaluates(synth, tmp_path, ckpt):
    folder, lists = synth
    files = {}
    for split in ("train", "test"):
        files[split] = tmp_path / f"{split}.json"
        assert main(_argv(folder, lists[split], files[split], "--synth-noise", "0.3", "--batch-size", "16")) == 0
    train = json.loads(files["train"].read_text())
    assert len(train) == 48 and all(e["positive"].startswith(f"This is a photo of {e['class_name']}.")
                                    for e in train.values())
    report = json.loads((tmp_path / "train.json.report.json").read_text())
    assert report["captions"] == 48 and report["with_subcategory_name"] == 48 and report["tokens"]["max"] <= 73
    assert any(k.startswith("repaired: repeated") for k in report["outcomes"])
    assert any(k.startswith("rejected, described again: refusal") for k in report["outcomes"])
    assert any(k == "accepted by the reviewer" for k in report["outcomes"])
    out = tmp_path / "run"
    cmd = [sys.executable, "train.py", "--root", str(tmp_path), "--seed", "1", "--trainer", "DCAR",
           "--dataset-config-file", "configs/datasets/fdrd.yaml", "--config-file", "configs/trainers/DCAR/synth.yaml",
           "--output-dir", str(out), "MODEL.BACKBONE.NAME", ckpt, "INPUT.SIZE", "(32, 32)", "DATASET.NUM_SHOTS", "2",
           "OPTIM.MAX_EPOCH", "1", "DATASET.FDRD.CUSTOM_NAME", "MySynth", "DATASET.FDRD.CUSTOM_IMAGE_DIR", folder,
           "DATASET.FDRD.CUSTOM_TRAIN_FILE", str(files["train"]), "DATASET.FDRD.CUSTOM_TEST_FILE", str(files["test"]),
           "DATASET.FDRD.DOMAINS", "['MySynth']"]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["sizes"]["MySynth"]["images"] == 24 and results["metrics"]["rsum"] > 0


def test_a_killed_run_resumes_without_loss_or_duplicates(synth, tmp_path):
    folder, lists = synth
    out = tmp_path / "c.json"
    work = f"{out}.work.jsonl"
    cmd = [sys.executable, "-m", "datasets.fdrd", "build-captions",
           *_argv(folder, lists["train"], out, "--batch-size", "4", "--synth-delay", "0.2")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not os.path.exists(work) or open(work).read().count("\n") < 8):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = [json.loads(x) for x in open(work).read().splitlines() if x.strip()]
    assert 8 <= len(before) < 48 and not out.exists()  # killed part-way; nothing written yet
    res = subprocess.run(cmd[:-2], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and f"{len(before)} finished" in res.stdout.replace(",", "")
    after = [json.loads(x) for x in open(work).read().splitlines()]
    keys = [r["key"] for r in after]
    assert len(keys) == len(set(keys)) == 48  # every image once: nothing redone, nothing missing
    assert after[:len(before)] == before  # the first run's captions kept as they were
    final = json.loads(out.read_text())
    assert set(final) == set(keys) and all(final[r["key"]] == r["entry"] for r in before)


def test_limit_then_the_rest(synth, tmp_path):
    folder, lists = synth
    out = tmp_path / "c.json"
    assert main(_argv(folder, lists["train"], out, "--limit", "5")) == 0
    assert len(json.loads(out.read_text())) == 5
    assert main(_argv(folder, lists["train"], out)) == 0
    assert len(json.loads(out.read_text())) == 48


def test_input_errors_are_one_line(synth, tmp_path, capsys):
    folder, lists = synth
    assert main(["--image-list", lists["train"], "--image-root", str(tmp_path), "--domain", "D", "--out",
                 str(tmp_path / "c.json"), "--backend", "synth", "--synth-folder", folder]) == 2
    assert "images are not under" in capsys.readouterr().out
    (tmp_path / "birds" / "robin").mkdir(parents=True)
    (tmp_path / "birds" / "robin" / "a.jpg").write_bytes(b"")
    (tmp_path / "birds" / "notes.txt").write_text("x")
    assert [(i.key, i.subcategory) for i in images_from_folder(str(tmp_path / "birds"))] == [("robin/a.jpg", "robin")]


def test_a_corrupt_image_fails_its_record_not_the_build_and_a_rerun_goes_past_it(synth, tmp_path, capsys):
    import shutil

    folder, lists = synth
    copy = str(tmp_path / "fdrd_synth")
    shutil.copytree(folder, copy)
    image_list = str(tmp_path / "train.csv")
    write_image_list(copy, "train", image_list)
    first = open(image_list).read().splitlines()[1].split(",")[0]
    with open(os.path.join(copy, first), "r+b") as f:
        f.truncate(40)  # a corrupt file: a header and nothing more
    out = tmp_path / "c.json"
    argv = ["--image-list", image_list, "--image-root", copy, "--domain", "FDRDSynth", "--out", str(out),
            "--backend", "synth", "--synth-folder", copy]
    assert main(argv) == 0
    report = json.loads((tmp_path / "c.json.report.json").read_text())
    assert report["failed"] == 1 and len(json.loads(out.read_text())) == 47
    (what, outcome), = [(k, o) for k, o in report["outcomes"].items() if k.startswith("failed")]
    assert "unreadable image" in what and outcome["keys"] == [first]
    capsys.readouterr()
    assert main(argv) == 0  # the rerun does not stop on it again, nor ask for it again
    assert "48 finished" in capsys.readouterr().out.replace(",", "")
