"""One error style (reporting/cli.py): bad input to any command is one ``ERROR:`` line and exit status 2."""
import pytest

import parse_test_res
import train
from datasets.captioning.build import main as build_captions
from datasets.fdrd.__main__ import main as fdrd_cli
from reporting.cli import BAD_INPUT, bad_input
from trainers.backbones.__main__ import main as backbones_cli


def test_bad_input_prints_one_error_line_and_returns_2(capsys):
    assert bad_input("no such thing") == BAD_INPUT == 2
    assert capsys.readouterr().out == "ERROR: no such thing\n"


def _train(argv):
    with pytest.raises(SystemExit) as info:
        train.run(argv)
    return info.value.code


@pytest.mark.parametrize("command", ["train.py", "parse_test_res.py", "datasets.fdrd", "trainers.backbones",
                                     "build-captions"])
def test_every_command_reports_bad_input_alike(command, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    code = {"train.py": lambda: _train(["--config-file", missing + ".yaml"]),
            "parse_test_res.py": lambda: parse_test_res.main([missing]),
            "datasets.fdrd": lambda: fdrd_cli(["check", "--root", missing]),
            "trainers.backbones": lambda: backbones_cli(["fetch", missing + ".pt"]),
            "build-captions": lambda: build_captions(["--images", missing, "--domain", "X", "--out", missing + ".json",
                                                      "--backend", "synth"])}[command]()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("ERROR: ") and "missing" in lines[0]
