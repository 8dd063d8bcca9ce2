"""trainers.backbones.loading: tiny checkpoints by path and by name, the legacy cache, the
activation a source states (or the refusal when it states none), SHA-256 pins, the run record
and what a config gets. The Hugging Face cache is tested in test_backbones_hub.py."""
import dataclasses
import os
import shutil

import pytest
import torch

from tests.helpers import TINY_CLIP
from trainers.backbones import convert, files, loading, names
from trainers.backbones.loading import BackboneNotFoundError, load_clip, locate


def _same_outputs(model, ref, image, text):
    with torch.no_grad():
        assert torch.allclose(model.encode_image(image), ref.encode_image(image), atol=1e-5)
        assert torch.allclose(model.encode_text(text), ref.encode_text(text), atol=1e-5)


def test_tiny_clip_loads_from_path(tiny_clip_files):
    model = load_clip(tiny_clip_files["described"])
    assert model.visual.input_resolution == TINY_CLIP["image_resolution"]
    assert model.text_projection.shape == (TINY_CLIP["transformer_width"], TINY_CLIP["embed_dim"])
    assert model.visual.conv1.weight.dtype == torch.float32 and not model.training
    # fp32 weights keep their values (no fp16 rounding): the saved model itself is the reference.
    ref = tiny_clip_files["model"].float().eval()
    _same_outputs(model, ref, tiny_clip_files["image"], tiny_clip_files["text"])


def test_a_torchscript_archive_is_never_run_by_path_or_in_a_folder(tmp_path, tiny_clip_files, monkeypatch):
    """Only an archive with a table hash reaches torch.jit.load (the old loader ran any archive,
    here under open_clip's weight-file name in a model folder, before refusing it)."""
    ran = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: ran.append(a) or pytest.fail("jit.load ran"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text('{"model_cfg": {"quick_gelu": true}}')
    shutil.copy(tiny_clip_files["jit"], folder / "open_clip_pytorch_model.bin")
    for name in (tiny_clip_files["jit"], str(folder)):
        with pytest.raises(ValueError, match="is a TorchScript archive with sha256 .*runs the code it carries"):
            load_clip(name)
    assert not ran


def test_a_plain_state_dict_states_no_activation_and_is_refused_until_one_is_set(tmp_path, tiny_clip_files):
    with pytest.raises(convert.BackboneFormatError, match="does not state its MLP activation.*ACTIVATION quick_gelu"):
        locate(tiny_clip_files["state_dict"])
    wrapped = tmp_path / "wrapped.pth"  # DDP prefixes under a state_dict key
    torch.save({"state_dict": {"module." + k: v for k, v in tiny_clip_files["model"].state_dict().items()}}, wrapped)
    ref = tiny_clip_files["model"].float().eval()
    _same_outputs(load_clip(str(wrapped), activation="quick_gelu"), ref, tiny_clip_files["image"], tiny_clip_files["text"])
    gelu = load_clip(tiny_clip_files["state_dict"], activation="gelu")  # the setting is obeyed, not ignored
    assert isinstance(gelu.transformer.resblocks[0].mlp.gelu, torch.nn.GELU)


def test_a_setting_that_contradicts_the_source_is_refused(tiny_clip_files):
    with pytest.raises(convert.BackboneFormatError, match="states activation quick_gelu, but MODEL.BACKBONE.ACTIVATION is gelu"):
        locate(tiny_clip_files["described"], activation="gelu")
    with pytest.raises(convert.BackboneFormatError, match="not one of"):
        locate(tiny_clip_files["described"], activation="relu")


def _legacy_row(monkeypatch, name, sha):
    """Make ``name``'s original OpenAI file one the tests can build (its hash is the tiny archive's)."""
    real = names.legacy
    monkeypatch.setattr(names, "legacy", lambda n: dataclasses.replace(real(n), sha256=sha) if n == name else real(n))


def test_legacy_cache_file_loads_by_name_and_is_hash_checked(tmp_path, tiny_clip_files, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(tiny_clip_files["jit"], cache / "ViT-B-32.pt")
    with pytest.raises(convert.BackboneFormatError, match="not the published 40d36571"):  # OpenAI's real hash
        locate("ViT-B/32", str(cache), allow_download=False)
    _legacy_row(monkeypatch, "ViT-B/32", files.sha256(tiny_clip_files["jit"]))
    found = locate("ViT-B-32:openai", str(cache), allow_download=False)  # open_clip's spelling, same row
    assert found.path == str(cache / "ViT-B-32.pt") and found.activation == "quick_gelu"
    assert found.source.startswith("legacy cache") and found.mean == names.OPENAI_MEAN
    assert load_clip("ViT-B/32", str(cache), allow_download=False).visual.input_resolution == 32


def test_default_cache_dir_and_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv(loading.CACHE_ENV, raising=False)
    assert loading.cache_dir() == os.path.expanduser("~/.cache/clip")
    monkeypatch.setenv(loading.CACHE_ENV, str(tmp_path))
    assert loading.cache_dir() == str(tmp_path)


def test_missing_named_weights_one_line_naming_every_place_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(BackboneNotFoundError) as err:
        locate("ViT-B/16", str(tmp_path / "clip"), allow_download=False)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "clip" / "ViT-B-16.pt") in msg and str(tmp_path / "hf") in msg
    assert "downloads are off (MODEL.BACKBONE.DOWNLOAD False)" in msg
    assert ("hf download timm/vit_base_patch16_clip_224.openai open_clip_model.safetensors "
            "--revision 977e3dd0ec55ab8da155f2fbeb6b5f54948b6e3d") in msg
    assert "openaipublic" not in msg and "curl" not in msg  # the dead URL is no source
    with pytest.raises(BackboneNotFoundError, match="knows no hub file for RN101; put OpenAI.s RN101.pt there"):
        locate("RN101", str(tmp_path / "clip"), allow_download=False)


def test_unknown_name_and_non_clip_files(tmp_path):
    with pytest.raises(BackboneNotFoundError, match="neither a CLIP name"):
        locate("ViT-Z/99")
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="is not a CLIP checkpoint"):
        load_clip(str(other), activation="quick_gelu")


def test_sha256_pin_and_the_record(tiny_clip_files):
    path = tiny_clip_files["described"]
    found = locate(path)
    assert found.sha256 == files.sha256(path) and found.record()["sha256"] == found.sha256
    assert found.record()["activation"] == "quick_gelu" and found.record()["source"] == path
    with pytest.raises(convert.BackboneFormatError, match="MODEL.BACKBONE.SHA256 pins 0000"):
        locate(path, sha256="0000")


def test_configure_writes_hash_activation_and_normalisation(tiny_clip_files):
    from plugins import default_cfg

    cfg = default_cfg()
    cfg.MODEL.BACKBONE.NAME = tiny_clip_files["described"]
    assert cfg.INPUT.PIXEL_MEAN != list(names.OPENAI_MEAN)  # the engine's default is ImageNet's
    loading.configure(cfg)
    assert cfg.MODEL.BACKBONE.SHA256 == files.sha256(tiny_clip_files["described"])
    assert cfg.MODEL.BACKBONE.ACTIVATION == "quick_gelu" and cfg.MODEL.BACKBONE.SOURCE == tiny_clip_files["described"]
    assert cfg.INPUT.PIXEL_MEAN == list(names.OPENAI_MEAN) and cfg.INPUT.PIXEL_STD == list(names.OPENAI_STD)
    cfg.INPUT.PIXEL_MEAN, cfg.MODEL.BACKBONE.SET_PIXEL_NORM = [0.5, 0.5, 0.5], False
    loading.configure(cfg)  # the saved hash and activation pass again; the config's own mean stays
    assert cfg.INPUT.PIXEL_MEAN == [0.5, 0.5, 0.5]
