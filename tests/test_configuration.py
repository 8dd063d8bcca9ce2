"""configuration.py: the one config builder -- files, flags and KEY VALUE options in their order,
errors naming their source, the backbone's settings always applied (a config built without them
normalised images with ImageNet's mean/std: benchmarks/micro/dtr_roles.py did), and no other place in the
project merges a config or applies the backbone's settings by hand."""
import ast
import glob
import os

import pytest

from configuration import build_cfg, build_parser, cfg_from_args
from trainers.backbones.names import OPENAI_MEAN, OPENAI_STD

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_config_layering_order(tmp_path):
    ds = _write(tmp_path / "ds.yaml", 'DATASET:\n  NAME: "ToyColours"\n  NUM_SHOTS: 4\nOPTIM:\n  LR: 0.1\n  MAX_EPOCH: 3\n')
    tr = _write(
        tmp_path / "tr.yaml",
        "OPTIM:\n  LR: 0.2\n  WARMUP_CONS_LR: 1e-5\nINPUT:\n  SIZE: (32, 32)\n  TRANSFORMS: [\"normalize\"]\n"
        "DATALOADER:\n  TRAIN_X:\n    BATCH_SIZE: 8\n",
    )
    args = build_parser().parse_args(
        ["--dataset-config-file", ds, "--config-file", tr, "--seed", "0", "--trainer", "ToyTrainer",
         "--root", "/data", "OPTIM.MAX_EPOCH", "7", "DATALOADER.TRAIN_X.BATCH_SIZE", "2"]
    )
    cfg = cfg_from_args(args)
    assert cfg.DATASET.NAME == "ToyColours" and cfg.DATASET.NUM_SHOTS == 4  # dataset file
    assert cfg.OPTIM.LR == 0.2  # trainer file beats dataset file
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-5 and isinstance(cfg.OPTIM.WARMUP_CONS_LR, float)  # yacs literal_eval
    assert cfg.INPUT.SIZE == (32, 32) and cfg.INPUT.TRANSFORMS == ("normalize",)
    assert cfg.OPTIM.MAX_EPOCH == 7 and cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 2  # opts beat files
    assert cfg.SEED == 0  # seed 0 is a seed
    assert cfg.DATASET.ROOT == "/data" and cfg.TRAINER.NAME == "ToyTrainer"
    assert cfg.MODEL.BACKBONE.CACHE_DIR == ""  # key added by a trainers module (registration by import)
    assert cfg.is_frozen()


def test_seed_unset_stays_negative_and_bad_opts_fail(tmp_path):
    cfg = cfg_from_args(build_parser().parse_args([]))
    assert cfg.SEED == -1
    with pytest.raises(ValueError, match="Type mismatch"):
        cfg_from_args(build_parser().parse_args(["OPTIM.LR", "1"]))
    with pytest.raises(ValueError, match="Config error in the command line: Non-existent key: OPTIM.NOPE"):
        cfg_from_args(build_parser().parse_args(["OPTIM.NOPE", "1"]))
    with pytest.raises(ValueError, match="KEY VALUE"):
        cfg_from_args(build_parser().parse_args(["OPTIM.LR"]))
    with pytest.raises(ValueError, match="Config file not found"):
        cfg_from_args(build_parser().parse_args(["--config-file", str(tmp_path / "missing.yaml")]))


def test_the_backbones_settings_are_always_applied(tmp_path, ckpt):
    """The tiny CLIP file states quick_gelu; a config built from the DCAR synth config gets the
    weights' hash, activation and OpenAI's normalisation, never the engine's ImageNet default."""
    cfg = build_cfg(["configs/datasets/fdrd_synth.yaml", "configs/trainers/DCAR/synth.yaml"],
                    ["MODEL.BACKBONE.NAME", ckpt], {"TRAINER.NAME": "DCAR"})
    assert tuple(cfg.INPUT.PIXEL_MEAN) == OPENAI_MEAN and tuple(cfg.INPUT.PIXEL_STD) == OPENAI_STD
    assert cfg.MODEL.BACKBONE.ACTIVATION == "quick_gelu" and len(cfg.MODEL.BACKBONE.SHA256) == 64
    assert cfg.is_frozen() and not build_cfg(freeze=False).is_frozen()
    unset = build_cfg(["configs/trainers/DCAR/synth.yaml"], ["MODEL.BACKBONE.NAME", ckpt], backbone=False)
    assert tuple(unset.INPUT.PIXEL_MEAN) != OPENAI_MEAN  # what the hand-built configs got


MERGES = {"merge_from_file", "merge_from_list", "configure"}


def hand_built(path: str) -> list[int]:
    """Lines of ``path`` that merge a config or apply the backbone's settings themselves."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr in MERGES]


def test_no_config_is_built_another_way():
    allowed = {"configuration.py", os.path.join("tests", "test_backbones_loading.py")}  # the builder; configure's own test
    sources = [p for p in glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
               if not os.path.relpath(p, ROOT).startswith((".venv", "output", "data"))]
    found = [f"{os.path.relpath(p, ROOT)}:{line}" for p in sources if os.path.relpath(p, ROOT) not in allowed
             for line in hand_built(p)]
    assert not found, found


def test_the_guard_sees_a_hand_built_config(tmp_path):
    module = _write(tmp_path / "m.py", "def f(cfg):\n    cfg.merge_from_file('x.yaml')\n    backbones.configure(cfg)\n")
    assert hand_built(module) == [2, 3]
