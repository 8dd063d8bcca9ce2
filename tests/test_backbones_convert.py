"""trainers.backbones.convert: tiny random transformers CLIP models, saved as the hub saves them,
load through the project with the features of transformers' own forward (fp32, within 1e-5).
Fails when q/k/v are stacked in the wrong order, a projection is not transposed, GELU weights run
with QuickGELU, or weights pass through fp16."""
import json

import clip
import pytest
import torch

from trainers import backbone
from trainers.backbones import convert

transformers = pytest.importorskip("transformers")


def _tiny_hf(act: str):
    torch.manual_seed(0)
    tower = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=1, hidden_act=act)
    cfg = transformers.CLIPConfig(
        text_config=dict(tower, vocab_size=49408, max_position_embeddings=77),
        vision_config=dict(tower, image_size=32, patch_size=8), projection_dim=32)
    return transformers.CLIPModel(cfg).eval()


def _features(model, x, ids):
    with torch.no_grad():
        fi = model.get_image_features(pixel_values=x)
        ft = model.get_text_features(input_ids=ids)
    return getattr(fi, "pooler_output", fi), getattr(ft, "pooler_output", ft)


@pytest.fixture(scope="module", params=["quick_gelu", "gelu"])
def hf_folder(request, tmp_path_factory):
    model = _tiny_hf(request.param)
    folder = tmp_path_factory.mktemp(f"hf_{request.param}")
    model.save_pretrained(folder)  # config.json + model.safetensors, as on the hub
    return model, folder, request.param


def test_transformers_folder_matches_reference_forward(hf_folder):
    ref, folder, _ = hf_folder
    x, ids = torch.randn(2, 3, 32, 32), clip.tokenize(["a red-winged bird", "a photo"])
    model = backbone.load_clip(str(folder))
    want_i, want_t = _features(ref, x, ids)
    with torch.no_grad():
        assert (model.encode_image(x) - want_i).abs().max() < 1e-5
        assert (model.encode_text(ids) - want_t).abs().max() < 1e-5


def test_wrong_activation_is_visible(hf_folder):
    """The check above can fail: GELU weights run with QuickGELU (and the reverse) drift > 1e-3."""
    ref, _, act = hf_folder
    other = convert.GELU if act == convert.QUICK_GELU else convert.QUICK_GELU
    wrong = convert.build_clip(convert.from_transformers(ref.state_dict()), other)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (wrong.encode_image(x) - _features(ref, x, clip.tokenize(["a"]))[0]).abs().max() > 1e-3


def test_qkv_order_and_projection_transpose():
    sd = _tiny_hf("quick_gelu").state_dict()
    out = convert.from_transformers(sd)
    q = sd["vision_model.encoder.layers.0.self_attn.q_proj.weight"]
    v = sd["vision_model.encoder.layers.0.self_attn.v_proj.weight"]
    w = out["visual.transformer.resblocks.0.attn.in_proj_weight"]
    assert torch.equal(w[:64], q) and torch.equal(w[128:], v)
    assert torch.equal(out["text_projection"], sd["text_projection.weight"].t())


def test_fp32_values_survive_build():
    sd = convert.from_transformers(_tiny_hf("gelu").state_dict())
    model = convert.build_clip(sd, convert.GELU)
    key = "visual.transformer.resblocks.0.mlp.c_fc.weight"
    assert torch.equal(model.state_dict()[key], sd[key])
    assert not torch.equal(sd[key].half().float(), sd[key])  # the check would see fp16 rounding


def test_folder_without_stated_activation_or_siglip_is_refused(tmp_path):
    with pytest.raises(convert.BackboneFormatError, match="activation cannot be known"):
        convert.folder_activation(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "siglip"}))
    with pytest.raises(convert.BackboneFormatError, match="no class token"):
        convert.folder_activation(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "clip", "text_config": {"hidden_act": "relu"}}))
    with pytest.raises(convert.BackboneFormatError, match="hidden_act"):
        convert.folder_activation(str(tmp_path))
