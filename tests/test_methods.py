"""methods.py: the one table of methods -- every row a registered trainer with its config files;
the lists that used to be written out by hand (table columns, tuning, speed, the benchmark's rows,
the comparison script) derive from it, and no source writes a list of methods again."""
import ast
import glob
import os
import re
import subprocess
import sys

import pytest

import engine
import methods
from methods import METHODS, PRESETS, SYNTH, method, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_row_is_a_registered_trainer_with_its_config_files():
    assert len({m.trainer for m in METHODS}) == len({m.name for m in METHODS}) == len(METHODS)
    for m in METHODS:
        assert m.trainer in engine.TRAINER_REGISTRY.registered_names(), m.trainer
        assert SYNTH in m.configs and set(m.configs) <= set(PRESETS), m.trainer
        for preset in m.configs:
            assert os.path.isfile(os.path.join(ROOT, m.config(preset))), m.config(preset)
        assert m.minutes > 0 and (m.trains or m.reference), m.trainer


def test_each_trainer_takes_its_config_node_from_its_row():
    """The node is written once, in the row: the trainer class reads it, its extend_cfg makes it
    (fails when a row names a node the trainer's module does not make)."""
    from plugins import default_cfg

    cfg = default_cfg()
    for m in METHODS:
        assert engine.TRAINER_REGISTRY.get(m.trainer).CONFIG_NODE == m.node
        assert "PREC" in cfg.TRAINER[m.node] and (not m.trains or "LOSS" in cfg.TRAINER[m.node]), m.trainer


def test_a_trainer_without_a_row_is_told_to_add_one():
    from trainers.base import RetrievalTrainer

    class Unlisted(RetrievalTrainer):
        pass

    with pytest.raises(ValueError, match=r"Trainer Unlisted has no row in methods.py: add Method\('Unlisted', NAME, NODE"):
        RetrievalTrainer.node(Unlisted.__new__(Unlisted), cfg=object())


def test_the_table_imports_nothing_of_the_project_nor_torch():
    tree = ast.parse(open(os.path.join(ROOT, "methods.py"), encoding="utf-8").read())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "argparse", "dataclasses", "sys"}
    res = subprocess.run([sys.executable, "-c", "import sys, methods; print('torch' in sys.modules)"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "False"


def test_the_lists_derive_from_the_table():
    import parse_test_res
    from benchmarks.studies import synthetic_benchmark, tuning

    assert parse_test_res.METHOD_ORDER == trainers()
    assert tuning.METHODS == ("CoOp", "CLIP_Adapter", "CLIP_LoRA", "MaPLe", "PromptSRC", "DCAR", "FullFineTune")
    rows = [r for r in synthetic_benchmark.ROWS if r.role != "ablation"]
    assert [(r.name, r.trainer, r.minutes, r.seeded, r.untuned) for r in rows] == [
        (m.name, m.trainer, m.minutes, m.trains, not (m.reference or m.tuned))
        for m in sorted(METHODS, key=lambda m: not m.reference)]  # an untuned method runs only when --only names it
    assert {r.trainer for r in rows if r.role == "reference"} == {"ZeroshotCLIP", "FullFineTune"}


def _trainer_lists(path: str) -> list[str]:
    """Places in a Python file where three or more trainer names stand in one literal collection."""
    names = set(trainers())
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = []
    for node in ast.walk(tree):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)) and items:
            hits = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
            if len(hits) >= 3:
                found.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    return found


def test_no_source_writes_the_list_of_methods_again():
    sources = [p for p in glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
               if not p.startswith(os.path.join(ROOT, ".venv")) and "/tests/" not in p and not p.endswith("methods.py")]
    assert not [place for p in sources for place in _trainer_lists(p)]
    word = re.compile(r"\b(" + "|".join(map(re.escape, trainers())) + r")\b")
    for script in glob.glob(os.path.join(ROOT, "scripts", "**", "*.sh"), recursive=True):
        code = "\n".join(line for line in open(script, encoding="utf-8") if not line.lstrip().startswith("#"))
        assert len(set(word.findall(code))) < 3, script


def test_the_guard_catches_a_list_written_out(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('ORDER = ("CoOp", "MaPLe", "DCAR")\nONE = {"CoOp": 1}\n')
    assert _trainer_lists(str(module)) == [f"{os.path.relpath(str(module), ROOT)}:1"]


def test_the_comparison_scripts_runs_come_from_the_table(capsys):
    assert methods.main(["table", "vit_b32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ZeroshotCLIP vit_b32 eval" and "DCAR vit_b32_ep10_batch32_2ctx train" in lines
    assert [line.split()[0] for line in lines] == list(trainers(in_table=True))


def test_unknown_methods_and_presets_are_named():
    with pytest.raises(ValueError, match="'Nope' is not a method of the table.*DCAR"):
        method("Nope")
    with pytest.raises(ValueError, match="FullFineTune has no config for preset 'vit_b32'"):
        method("FullFineTune").config("vit_b32")


def test_the_scripts_default_config_comes_from_the_table(capsys):
    """scripts/common/default_cfg.sh asks the table; a trainer without a config there is told to set CFG."""
    assert methods.main(["config", "CoOp", "fdrd_caltech101"]) == 0
    assert methods.main(["config", "CoOp", "fdrd_synth_val"]) == 0
    assert capsys.readouterr().out.split() == [method("CoOp").configs["vit_b32"], SYNTH]
    assert methods.main(["config", "FullFineTune", "fdrd"]) == 2
    assert "ERROR: set CFG to a config name under configs/trainers/FullFineTune/" in capsys.readouterr().err
    res = subprocess.run(["bash", "scripts/common/default_cfg.sh", "DCAR", "fdrd_dtd"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == method("DCAR").configs["vit_b32"]
