"""The commands the README shows (in its blocks and its prose) and the blocks of the docs pages it
sends readers to are commands that parse:
an entry point's own argparse parser accepts the flags, ``train.py``'s config files exist and its
trailing ``KEY VALUE`` pairs are config keys of the right type, a script exists with a dataset
config for its dataset argument and a trainer config for ``CFG``, a file given to ``pip -r``
exists. Nothing is run beyond parsing."""
from __future__ import annotations

import argparse
import os
import re
import runpy
import shlex
import sys
from contextlib import contextmanager
from typing import Iterator

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + [f"docs/{n}.md" for n in ("training", "performance", "extending", "engine", "captioning", "model")]
# Environment variables the scripts read; those the Python they run reads (accepted before a script too).
SCRIPT_ENV = {"DATA", "CFG", "SEEDS", "GPUS", "OUTPUT_ROOT", "PRESET", "SHOTS", "OPTS", "LOAD_EPOCH"}
PYTHON_ENV = {"HF_HUB_OFFLINE", "HF_HUB_CACHE", "DCAR_ENGINE", "DCAR_DEBUG", "OMP_NUM_THREADS"}
EXTERNAL = {"git", "tensorboard", "hf"}  # other programs' command lines, not this repository's
SHELL_PROMPT = re.compile(r"^\s*(\$\s+)?")


def commands(text: str, inline: bool = True) -> list[str]:
    """Every command line of the ``bash`` blocks (continuation lines joined, comments dropped) and,
    with ``inline``, every inline code span that starts like a command and is not a synopsis
    (``<trainer>``, ``[KEY VALUE ...]``)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                out.append(line.strip())
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text) if inline else []:
        words = span.split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if words and words[0] in ("python", "bash", "torchrun") and len(words) > 1 and not re.search(r"[<\[]", span):
            out.append(span)
    return out


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


@contextmanager
def parse_only() -> Iterator[None]:
    """Every ``parse_args`` stops the program right after a successful parse, with the namespace."""
    real = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    argparse.ArgumentParser.parse_args = parse_args
    try:
        yield
    finally:
        argparse.ArgumentParser.parse_args = real


def parsed(target: list[str], argv: list[str]) -> tuple[argparse.Namespace | None, str]:
    """Run ``python <target> argv`` up to its parser: (namespace, "") or (None, the parser's error)."""
    saved, main = sys.argv, f"{target[-1]}.__main__"
    imported = sys.modules.pop(main, None)  # imported by another test: run it afresh, put it back after
    sys.argv = [target[-1]] + argv
    try:
        with parse_only():
            if target[0] == "-m":
                runpy.run_module(target[1], run_name="__main__", alter_sys=False)
            else:
                runpy.run_path(os.path.join(ROOT, target[0]), run_name="__main__")
    except _Parsed as p:
        return p.namespace, ""
    except SystemExit as e:
        return None, f"exits {e.code} instead of parsing"
    finally:
        sys.argv = saved
        if imported is not None:
            sys.modules[main] = imported
    return None, "never parsed its command line"


def config_problems(pairs: list[str], files: list[str] = (), values: dict | None = None) -> list[str]:
    """Trailing ``KEY VALUE`` pairs that are not config keys of the right type (on ``files``)."""
    from configuration import build_cfg

    try:
        build_cfg(files, pairs, values, backbone=False)  # keys and types only: the weights are not on this machine
    except ValueError as e:
        return [f"{pairs}: {e}"]
    return []


def train_problems(ns: argparse.Namespace) -> list[str]:
    from configuration import flag_values

    paths = [p for p in (ns.dataset_config_file, ns.config_file) if p]
    problems = [f"--{flag} {path} does not exist" for flag, path in
                (("dataset-config-file", ns.dataset_config_file), ("config-file", ns.config_file))
                if path and not os.path.isfile(os.path.join(ROOT, path))]
    if problems:
        return problems
    import engine

    if ns.trainer and ns.trainer not in engine.TRAINER_REGISTRY.registered_names():
        problems.append(f"--trainer {ns.trainer} is not a registered trainer")
    return problems + config_problems(ns.opts or [], [os.path.join(ROOT, p) for p in paths], flag_values(ns))


def python_problems(argv: list[str]) -> list[str]:
    if argv[:1] == ["-c"]:
        compile(argv[1], "<README>", "exec")
        return []
    if argv[:2] == ["-m", "pytest"]:
        return [f"{a} does not exist" for a in argv[2:] if a.startswith("tests/") and not os.path.exists(
            os.path.join(ROOT, a.split("::")[0]))]
    target, rest = (argv[:2], argv[2:]) if argv[0] == "-m" else (argv[:1], argv[1:])
    if target[0] != "-m" and not os.path.isfile(os.path.join(ROOT, target[0])):
        return [f"{target[0]} does not exist"]
    ns, error = parsed(target, rest)
    if ns is None:
        return [f"python {' '.join(target)} {' '.join(rest)}: {error}"]
    return train_problems(ns) if target == ["train.py"] else []


def script_problems(script: str, args: list[str], env: dict[str, str]) -> list[str]:
    """A script exists; its dataset arguments have configs, SHOTS is a number, the rest KEY VALUE."""
    if not os.path.isfile(os.path.join(ROOT, script)):
        return [f"{script} does not exist"]
    problems = [f"{script}: {k} is not an environment variable it reads" for k in env
                if k not in SCRIPT_ENV | PYTHON_ENV]
    name, folder = os.path.basename(script), os.path.basename(os.path.dirname(script))
    trainer = {"dcar": "DCAR", "coop": "CoOp", "maple": "MaPLe", "clip_adapter": "CLIP_Adapter",
               "zsclip": "ZeroshotCLIP"}.get(folder)
    if folder == "common":
        trainer, args = args[0], args[1:]
    shapes = {"main.sh": ("dataset", "shots"), "eval.sh": ("dataset", "shots", "dataset"),
              "zeroshot.sh": ("dataset",), "reproduce_table.sh": ("dataset",) * len(args)}
    shape = shapes.get(name)
    if shape is None:
        return problems + [f"{script}: the test does not know its arguments (add it to script_problems)"]
    for kind, arg in zip(shape, args):
        if kind == "dataset" and not os.path.isfile(os.path.join(ROOT, "configs", "datasets", f"{arg}.yaml")):
            problems.append(f"{script}: no configs/datasets/{arg}.yaml for the dataset argument {arg!r}")
        if kind == "shots" and not arg.isdigit():
            problems.append(f"{script}: SHOTS {arg!r} is not a number")
    if "CFG" in env and trainer and not os.path.isfile(os.path.join(ROOT, "configs", "trainers", trainer,
                                                                    f"{env['CFG']}.yaml")):
        problems.append(f"{script}: CFG={env['CFG']} is not a config of {trainer}")
    if env.get("PRESET", "vit_b32") not in ("vit_b32", "synth"):
        problems.append(f"{script}: PRESET must be vit_b32 or synth")
    trailing = args[len(shape):]
    return problems + (config_problems(trailing) if trailing else [])


def problems(command: str) -> list[str]:
    """What is wrong with one command line as shown."""
    words = shlex.split(command.replace("$DATA", "data"), comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    program, argv = words[0], words[1:]
    if program == "bash":
        return script_problems(argv[0], argv[1:], env)
    bad_env = [f"{k} is not an environment variable the project reads" for k in env if k not in PYTHON_ENV | SCRIPT_ENV]
    if program in ("python", "python3"):
        return bad_env + python_problems(argv)
    if program == "torchrun":
        while argv and argv[0].startswith("-"):
            argv = argv[1:]
        return bad_env + python_problems(argv)
    if program == "pip":
        return [f"{argv[i + 1]} does not exist" for i, a in enumerate(argv[:-1])
                if a == "-r" and not os.path.isfile(os.path.join(ROOT, argv[i + 1]))]
    if program in EXTERNAL:
        return []
    return [f"{program}: not a command the test knows (a typo, or add it to EXTERNAL)"]


@pytest.mark.parametrize("page", PAGES)
def test_every_command_shown_parses(page):
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        shown = commands(f.read(), inline=page == "README.md")  # a page's prose names commands, its blocks run
    assert shown, f"{page} shows no command"
    bad = {c: p for c in shown if (p := problems(c))}
    assert not bad, f"commands in {page} that would not run as shown: {bad}"


def test_the_readme_shows_its_main_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        shown = commands(f.read())
    for needle in ("pip install -r requirements-dev.txt", "python -m pytest -q", "bash scripts/dcar/main.sh fdrd_synth 16",
                   "python train.py", "python parse_test_res.py", "python -m trained retrieve"):
        assert any(needle in c for c in shown), needle


@pytest.mark.parametrize("command, expected", [
    ("python train.py --root data --trainer DCAR --no-such-flag 1", "exits 2 instead of parsing"),
    ("python train.py --trainer DCAR --config-file configs/trainers/DCAR/gone.yaml", "does not exist"),
    ("python train.py --trainer DCAR TRAINER.DCAR.N_CTXX 2", "N_CTXX"),
    ("python train.py --trainer DCAR TRAINER.DCAR.N_CTX two", "two"),
    ("python train.py --trainer DCARR", "not a registered trainer"),
    ("python -m trained retrieve --model-dir RUN", "exits 2"),  # neither --images nor --image
    ("python -m datasets.fdrd check --rooot data", "exits 2"),
    ("bash scripts/dcar/main.sh fdrd_nowhere 16", "no configs/datasets/fdrd_nowhere.yaml"),
    ("bash scripts/dcar/main.sh fdrd_synth sixteen", "is not a number"),
    ("CFG=vit_b16 bash scripts/dcar/main.sh fdrd 16", "CFG=vit_b16 is not a config of DCAR"),
    ("bash scripts/dcar/main.sh fdrd 16 TRAINER.DCAR.CATE.LAMBDAA 0.5", "LAMBDAA"),
    ("bash scripts/dcarr/main.sh fdrd 16", "does not exist"),
    ("pip install -r requirements-gone.txt", "does not exist"),
    ("pythn train.py", "not a command the test knows"),
])
def test_a_command_that_would_not_run_is_caught(command, expected):
    found = problems(command)
    assert any(expected in p for p in found), found
