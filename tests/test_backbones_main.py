"""``python -m trainers.backbones``: ``list`` prints every name; ``fetch`` offline is one error
line with the fix (the download itself, in a subprocess: test_backbones_hub.py)."""
import pytest
import torch

from trainers.backbones import names
from trainers.backbones.__main__ import main
from trainers.backbones.files import save_safetensors


def test_list_prints_every_name(capsys):
    assert main(["list"]) == 0
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert printed[:len(names.all_names())] == names.all_names()


def test_fetch_offline_is_one_line_with_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert main(["fetch", "ViT-B-16:laion2b_s34b_b88k"]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("ERROR: ")
    assert "hf download laion/CLIP-ViT-B-16-laion2B-s34B-b88K open_clip_model.safetensors --revision 7288da5a" in out


@pytest.mark.parametrize("damage, said", [("half", "is a damaged safetensors file"),
                                          ("head", "is a damaged safetensors file"),  # header cut: was "states no activation"
                                          ("empty", "is empty"),  # was "does not state its MLP activation"
                                          ("wide", "the text tower is 40 wide (ln_final.weight [40])")])  # fetch said OK
def test_fetch_of_a_bad_weight_file_is_one_line(tmp_path, tiny_clip_files, capsys, damage, said):
    data = open(tiny_clip_files["described"], "rb").read()
    bad = tmp_path / "model.safetensors"
    if damage == "wide":
        sd = tiny_clip_files["model"].state_dict()
        sd["ln_final.weight"] = torch.zeros(40)
        save_safetensors(sd, str(bad), "quick_gelu")
    else:
        bad.write_bytes({"half": data[: len(data) // 2], "head": data[:3000], "empty": b""}[damage])
    assert main(["fetch", str(bad)]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f'ERROR: "{bad}"') and said in out
