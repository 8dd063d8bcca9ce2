"""Every command the code tells a user to run exists in the current version of its tool: each
``python -m MODULE [SUBCOMMAND]`` names a runnable module (and one of its subcommands), each
``hf download ...`` uses only flags today's ``hf`` accepts, each ``bash scripts/...`` names a
script that is there. Messages are read from the source files, so a new message is checked too."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from trainers.backbones import hub, names

SOURCES = ("trainers", "datasets", "engine", "evaluation", "reporting", "benchmarks", "train.py", "run_folder.py",
           "parse_test_res.py")


def _source_text() -> str:
    parts = []
    for top in SOURCES:
        path = os.path.join(ROOT, top)
        files = [path] if path.endswith(".py") else [os.path.join(d, f) for d, _, fs in os.walk(path)
                                                       for f in fs if f.endswith(".py")]
        parts += [open(f, encoding="utf-8").read() for f in files]
    return "\n".join(parts)


TEXT = _source_text()


def test_python_m_commands_name_runnable_modules_and_their_subcommands():
    found = set(re.findall(r"python -m ([a-zA-Z_][\w.]*)(?: ([a-z][\w-]*))?", TEXT))
    assert found, "the scan finds the messages"
    helps = {}
    for module, sub in sorted(found):
        spec = importlib.util.find_spec(module)
        assert spec is not None, module
        if spec.submodule_search_locations:  # a package: it needs a __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, module
        if sub:
            if module not in helps:
                res = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True,
                                     text=True, timeout=120)
                assert res.returncode == 0, module
                helps[module] = res.stdout
            assert sub in helps[module], f"python -m {module} {sub}"


@pytest.mark.skipif(shutil.which("hf") is None, reason="huggingface_hub's hf command is not on PATH")
def test_hf_download_flags_exist():
    used = set(re.findall(r"hf download [^`'\"\n]*?(--[a-z-]+)", TEXT))  # literal messages
    for row in names.PUBLISHED.values():  # the fixes the loader builds for the table's files
        used |= set(re.findall(r"--[a-z-]+", hub.HubFile(row.repo, row.file, row.revision or hub.MAIN).fix()))
    used |= set(re.findall(r"\{f\.fix\(\)\} (--[a-z-]+)", TEXT))  # flags appended to a fix
    assert {"--revision", "--force-download", "--local-dir"} <= used
    assert "huggingface-cli" not in TEXT  # current huggingface_hub no longer installs it
    helptext = subprocess.run(["hf", "download", "--help"], capture_output=True, text=True, timeout=60).stdout
    assert all(flag in helptext for flag in used), used


def test_bash_scripts_named_exist():
    for script in set(re.findall(r"bash (scripts/[\w/.-]+\.sh)", TEXT)):
        assert os.path.isfile(os.path.join(ROOT, script)), script
