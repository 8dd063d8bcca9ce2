"""docs/extending.md's walk-through, "A new trainer", kept true: its blocks -- a trainer module, a
config, one row of methods.py, a test file -- are written into a copy of the repository and nothing
else is touched; the new method then passes its own test and the method-table guards, trains through
``train.py``, appears in ``parse_test_res.py --table`` and runs in a quick synthetic benchmark.
Fails when adding a method needs a file the page does not name (a list of methods written out
again, a registration by hand)."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.dcar_helpers import small_synth_opts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROW = "# methods.py: a row of METHODS"


def walkthrough_blocks() -> dict[str, str]:
    """The fenced blocks of the page's "A new trainer" section, by the path their first line names."""
    text = open(os.path.join(ROOT, "docs", "extending.md"), encoding="utf-8").read()
    section = text.split("## A new trainer", 1)[1].split("\n## ", 1)[0]
    blocks = {}
    for body in re.findall(r"```[a-z]*\n(.*?)```", section, re.S):
        first, rest = body.split("\n", 1)
        blocks[ROW if first == ROW else first.removeprefix("# ").strip()] = rest
    return blocks


def add_method(copy: str, blocks: dict[str, str]) -> list[str]:
    """Write the blocks into ``copy``; the row goes at the end of METHODS. The paths written."""
    for path, body in blocks.items():
        if path == ROW:
            methods = os.path.join(copy, "methods.py")
            text = open(methods, encoding="utf-8").read()
            start = text.index("METHODS: tuple[Method, ...] = (")
            end = text.index("\n)\n", start)
            with open(methods, "w", encoding="utf-8") as f:
                f.write(text[:end] + "\n" + body.rstrip("\n") + text[end:])
            continue
        os.makedirs(os.path.dirname(os.path.join(copy, path)), exist_ok=True)
        with open(os.path.join(copy, path), "w", encoding="utf-8") as f:
            f.write(body)
    return sorted("methods.py" if p == ROW else p for p in blocks)


def repository_copy(dest: str) -> str:
    """The repository's files (tracked and not ignored) under ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for rel in listed:
        if os.path.isfile(os.path.join(ROOT, rel)):
            os.makedirs(os.path.dirname(os.path.join(dest, rel)) or dest, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))
    return dest


def _run(args, cwd, timeout=900):
    res = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, f"{args[:3]}: {res.stdout[-3000:]}{res.stderr[-3000:]}"
    return res.stdout


def test_the_walkthrough_names_four_files():
    assert sorted(walkthrough_blocks()) == [ROW, "configs/trainers/TextLinear/synth.yaml", "tests/test_text_linear.py",
                                            "trainers/text_linear.py"]


@pytest.mark.slow
def test_a_method_added_by_the_walkthrough_alone_trains_tabulates_and_benchmarks(tmp_path, tiny_clip_files):
    copy = repository_copy(str(tmp_path / "repo"))
    touched = add_method(copy, walkthrough_blocks())
    assert touched == ["configs/trainers/TextLinear/synth.yaml", "methods.py", "tests/test_text_linear.py",
                       "trainers/text_linear.py"]
    _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_text_linear.py", "tests/test_methods.py",
          "tests/test_configs.py"], copy)
    backbone, data, out = tiny_clip_files["described"], str(tmp_path / "data"), tmp_path / "output"
    run_dir = out / "fdrd_synth" / "TextLinear" / "synth_16shots" / "seed1"
    _run(["train.py", "--trainer", "TextLinear", "--dataset-config-file", "configs/datasets/fdrd_synth.yaml",
          "--config-file", "configs/trainers/TextLinear/synth.yaml", "--output-dir", str(run_dir), "--seed", "1",
          "--root", data, "MODEL.BACKBONE.NAME", backbone, "OPTIM.MAX_EPOCH", "1",
          *small_synth_opts(DATASET__NUM_SHOTS=16)], copy)
    assert json.loads((run_dir / "results.json").read_text())["trainer"] == "TextLinear"
    assert "| i2t TextLinear " in _run(["parse_test_res.py", "--table", str(out)], copy)
    js = tmp_path / "bench.json"
    _run(["-m", "benchmarks", "run", "synthetic_benchmark", "--quick", "--seeds", "1", "--workers", "2", "--backbone", backbone,
          "--data", str(tmp_path / "bench_data"), "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "bench.md"),
          "--json", str(js), "--other-draws", "--only", "TextLinear"], copy)
    rows = json.loads(js.read_text())["rows"]
    assert rows["text linear map"]["role"] == "method" and "zero-shot CLIP" in rows
