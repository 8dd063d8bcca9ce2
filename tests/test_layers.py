"""The floor plan: imports only go down the layers (engine and reporting <- datasets <-
evaluation <- trainers <- entry points: train.py, run_folder.py, plugins.py, parse_test_res.py,
benchmarks/),
and the engine names none of the project's packages, in an import or in a string."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER = {"engine": 0, "reporting": 0, "methods": 0, "datasets": 1, "evaluation": 2, "trainers": 3,
         "plugins": 4, "configuration": 4, "train": 4, "trained": 4, "run_folder": 4, "parse_test_res": 4,
         "benchmarks": 4, "tests": 5}
PACKAGES = {"reporting", "datasets", "evaluation", "trainers", "plugins", "benchmarks"}


def modules_of(package: str) -> list[str]:
    out = []
    for top, dirs, files in os.walk(os.path.join(ROOT, package)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out += [os.path.join(top, f) for f in files if f.endswith(".py")]
    return out


def imported(path: str) -> list[tuple[int, str]]:
    """(line, top-level name) of every absolute import, anywhere in the module (functions too),
    and of every string literal passed to an import function or naming a project package."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def strings(path: str) -> list[tuple[int, str]]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and n.value.split(".")[0] in PACKAGES and " " not in n.value]


@pytest.mark.parametrize("package", ["engine", "reporting", "datasets", "evaluation", "trainers"])
def test_imports_only_go_down(package):
    bad = [f"{os.path.relpath(p, ROOT)}:{line} imports {name}" for p in modules_of(package)
           for line, name in imported(p) if LAYER.get(name, -1) > LAYER[package]]
    assert not bad, "\n".join(bad)


def test_engine_names_no_project_package():
    bad = [f"{os.path.relpath(p, ROOT)}:{line} {value!r}" for p in modules_of("engine") for line, value in strings(p)]
    assert not bad, "\n".join(bad)


def test_a_lower_layer_importing_upwards_is_caught(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from trainers.dcar import DCAR\n    import importlib\n"
                      "    return importlib.import_module('trainers')\n")
    assert (2, "trainers") in imported(str(module)) and (4, "trainers") in strings(str(module))


def test_no_baseline_imports_the_dcar_wing():
    """Baselines stand beside DCAR: only trainers/dcar/ itself refers to it."""
    wing = os.path.join(ROOT, "trainers", "dcar")
    bad = []
    for path in modules_of("trainers"):
        if path.startswith(wing + os.sep):
            continue
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and (
                    node.module.startswith("trainers.dcar") or (node.level == 1 and node.module.startswith("dcar"))):
                bad.append(f"{os.path.relpath(path, ROOT)}:{node.lineno}")
    assert not bad, "\n".join(bad)
