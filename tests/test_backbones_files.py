"""trainers.backbones.files: weight files told apart by content, the activation a file states,
and the error for a file that is not weights (a saved error page)."""
import hashlib
import warnings

import clip
import pytest
import torch
from torch import nn

from tests.helpers import tiny_clip_model
from trainers.backbones import files


def test_sha256_equals_hashlib(tiny_clip_files):
    data = open(tiny_clip_files["jit"], "rb").read()
    assert files.sha256(tiny_clip_files["jit"]) == hashlib.sha256(data).hexdigest()


def test_formats_are_told_apart_by_content_not_name(tmp_path, tiny_clip_files):
    sd = tiny_clip_files["model"].state_dict()
    named_pt = tmp_path / "weights.pt"  # a safetensors file under a torch name
    files.save_safetensors(sd, str(named_pt), "gelu")
    assert files.is_safetensors(str(named_pt)) and not files.is_torchscript(str(named_pt))
    assert files.is_torchscript(tiny_clip_files["jit"]) and not files.is_safetensors(tiny_clip_files["jit"])
    assert not files.is_safetensors(tiny_clip_files["state_dict"]) and not files.is_torchscript(tiny_clip_files["state_dict"])
    back = files.read_state_dict(str(named_pt))
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


def test_stated_activation_of_each_format(tmp_path, tiny_clip_files):
    assert files.stated_activation(tiny_clip_files["described"]) == "quick_gelu"  # safetensors metadata
    assert files.stated_activation(tiny_clip_files["jit"]) == "quick_gelu"  # the archive's code: QuickGELU
    assert files.stated_activation(tiny_clip_files["state_dict"]) == ""  # a plain state dict states nothing
    gelu_model = tiny_clip_model()
    for block in gelu_model.modules():
        if hasattr(block, "mlp"):
            block.mlp.gelu = nn.GELU()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(gelu_model, (torch.randn(1, 3, 32, 32), clip.tokenize(["a"])), check_trace=False)
        torch.jit.save(traced, str(tmp_path / "gelu_jit.pt"))
    assert files.stated_activation(str(tmp_path / "gelu_jit.pt")) == "gelu"  # not fooled by the name "gelu"


def test_an_error_page_is_named_as_such_without_torchs_advice(tmp_path):
    junk = tmp_path / "ViT-B-16.pt"
    junk.write_bytes(b"<?xml version='1.0'?><Error><Code>BlobNotFound</Code></Error>")  # what curl -L saved
    with pytest.raises(ValueError) as err:
        files.read_state_dict(str(junk))
    msg = str(err.value)
    assert "a text file (a download that saved an error page?)" in msg and "fetch" in msg
    assert "weights_only=False" not in msg and "\n" not in msg


def test_a_pickle_with_code_is_refused_as_holding_code_and_never_runs(tmp_path):
    from tests.test_safe_load import payload_file

    path, sentinel = payload_file(tmp_path, "open_clip_pytorch_model.bin")
    with pytest.raises(ValueError, match="holds pickled Python objects \\(io.open\\).*not plain CLIP weights"):
        files.read_state_dict(path)
    assert not sentinel.exists()


def test_empty_and_truncated_files_are_named_with_the_fix(tmp_path, tiny_clip_files):
    empty = tmp_path / "pytorch_model.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty.*fetch the file again") as err:
        files.read_state_dict(str(empty))
    assert "text file" not in str(err.value)
    data = open(tiny_clip_files["described"], "rb").read()
    cut = tmp_path / "model.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    for read in (files.read_state_dict, files.stated_activation):
        with pytest.raises(ValueError, match="is a damaged safetensors file.*fetch the file again") as err:
            read(str(cut))
        assert str(cut) in str(err.value) and "\n" not in str(err.value)


def test_only_a_trusted_hash_lets_an_archive_load(tiny_clip_files):
    with pytest.raises(ValueError, match="TorchScript archive"):
        files.read_state_dict(tiny_clip_files["jit"])
    sd = files.read_state_dict(tiny_clip_files["jit"], {files.sha256(tiny_clip_files["jit"])})
    assert torch.equal(sd["text_projection"], tiny_clip_files["model"].state_dict()["text_projection"])
