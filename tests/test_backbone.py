"""CLIP loading through trainers.backbone: tiny checkpoints in both formats, name resolution,
and the offline error."""
import os
import shutil
import urllib.error

import pytest
import torch

from tests.helpers import TINY_CLIP
from trainers import backbone


def _same_outputs(model, ref, image, text):
    with torch.no_grad():
        assert torch.allclose(model.encode_image(image), ref.encode_image(image), atol=1e-5)
        assert torch.allclose(model.encode_text(text), ref.encode_text(text), atol=1e-5)


@pytest.mark.parametrize("fmt", ["state_dict", "jit"])
def test_tiny_clip_loads_from_path(tiny_clip_files, fmt):
    model = backbone.load_clip(tiny_clip_files[fmt])
    assert model.visual.input_resolution == TINY_CLIP["image_resolution"]
    assert model.text_projection.shape == (TINY_CLIP["transformer_width"], TINY_CLIP["embed_dim"])
    assert model.visual.conv1.weight.dtype == torch.float32 and not model.training
    # fp32 weights keep their values (no fp16 rounding): the saved model itself is the reference.
    ref = tiny_clip_files["model"].float().eval()
    _same_outputs(model, ref, tiny_clip_files["image"], tiny_clip_files["text"])


def test_wrapped_state_dict_and_name_resolution_via_cache_dir(tmp_path, tiny_clip_files):
    wrapped = tmp_path / "wrapped.pth"
    sd = {"module." + k: v for k, v in tiny_clip_files["model"].state_dict().items()}
    torch.save({"state_dict": sd}, wrapped)
    assert backbone.load_clip(str(wrapped)).visual.input_resolution == 32

    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(tiny_clip_files["jit"], cache / "ViT-B-32.pt")
    path, url = backbone.resolve_backbone("ViT-B/32", str(cache))
    assert path == str(cache / "ViT-B-32.pt") and url.endswith("/ViT-B-32.pt")
    assert backbone.load_clip("ViT-B/32", str(cache), allow_download=False).visual.input_resolution == 32


def test_default_cache_dir_and_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv(backbone.CACHE_ENV, raising=False)
    assert backbone.cache_dir() == os.path.expanduser("~/.cache/clip")
    monkeypatch.setenv(backbone.CACHE_ENV, str(tmp_path))
    assert backbone.resolve_backbone("RN50")[0] == str(tmp_path / "RN50.pt")


def test_offline_error_names_path_url_and_fix(tmp_path, monkeypatch):
    calls = {}

    def offline(url, timeout):
        calls["timeout"] = timeout
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(backbone.urllib.request, "urlopen", offline)
    with pytest.raises(backbone.BackboneNotFoundError) as err:
        backbone.load_clip("ViT-B/16", str(tmp_path))
    msg = str(err.value)
    assert str(tmp_path / "ViT-B-16.pt") in msg
    assert "openaipublic" in msg and msg.count("ViT-B-16.pt") >= 2
    assert "curl -L -o" in msg and "MODEL.BACKBONE.CACHE_DIR" in msg
    assert 0 < calls["timeout"] <= 60  # bounded: never hangs
    assert os.listdir(tmp_path) == []  # no partial file left

    with pytest.raises(backbone.BackboneNotFoundError, match="downloads are off"):
        backbone.load_clip("ViT-B/16", str(tmp_path), allow_download=False)


def test_unknown_name_and_bad_files(tmp_path):
    with pytest.raises(backbone.BackboneNotFoundError, match="neither a CLIP model name"):
        backbone.load_clip("ViT-Z/99")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="Cannot read"):
        backbone.load_clip(str(junk))
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="is not a CLIP checkpoint"):
        backbone.load_clip(str(other))


def test_safetensors_file_is_recognised_by_content(tmp_path, tiny_clip_files):
    """A safetensors file loads whatever its name (here .pt)."""
    from safetensors.torch import save_file

    ref = tiny_clip_files["model"].float().eval()
    path = tmp_path / "weights.pt"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    _same_outputs(backbone.load_clip(str(path)), ref, tiny_clip_files["image"], tiny_clip_files["text"])
