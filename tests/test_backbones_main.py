"""``python -m trainers.backbones``: ``list`` prints every name; ``fetch`` offline is one error
line with the fix (the download itself, in a subprocess: test_backbones_hub.py)."""
from trainers.backbones import names
from trainers.backbones.__main__ import main


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


def test_fetch_of_a_truncated_safetensors_path_is_one_line(tmp_path, tiny_clip_files, capsys):
    data = open(tiny_clip_files["described"], "rb").read()
    cut = tmp_path / "model.safetensors"
    cut.write_bytes(data[: len(data) // 3])
    assert main(["fetch", str(cut)]) == 2  # SafetensorError from an unguarded safe_open before
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f'ERROR: "{cut}" is a damaged safetensors file')
