"""trainers.backbones.convert: tiny random transformers and open_clip CLIP models, saved as the
hub saves them, load through the project with the features of the library's own forward (fp32,
within 1e-5). Fails when q/k/v are stacked in the wrong order, a projection is not transposed,
GELU weights run with QuickGELU, or weights pass through fp16; deep prompts train on a converted
model."""
import json

import clip
import pytest
import torch

from trainers.backbones import convert, load_clip, locate

transformers = pytest.importorskip("transformers")


def _tiny_hf(act: str, layers: int = 2):
    torch.manual_seed(0)
    tower = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=layers, num_attention_heads=1, hidden_act=act)
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


def _loads_like_transformers(folder, ref):
    """The loader's CLIP for ``folder`` gives transformers' own features (to 1e-5)."""
    x, ids = torch.randn(2, 3, 32, 32), clip.tokenize(["a red-winged bird", "a photo"])
    model = load_clip(str(folder))
    want_i, want_t = _features(ref, x, ids)
    with torch.no_grad():
        assert (model.encode_image(x) - want_i).abs().max() < 1e-5
        assert (model.encode_text(ids) - want_t).abs().max() < 1e-5


def test_transformers_folder_matches_reference_forward(hf_folder):
    ref, folder, _ = hf_folder
    _loads_like_transformers(folder, ref)


def test_a_config_without_hidden_act_loads_as_transformers_reads_it(tmp_path):
    """transformers 4.x save_pretrained leaves a default hidden_act (quick_gelu) out of config.json;
    transformers reads such a folder with quick_gelu, and so must the loader (it refused it)."""
    _tiny_hf("quick_gelu").save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    for part in ("text_config", "vision_config"):
        cfg[part].pop("hidden_act")
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    ref = transformers.CLIPModel.from_pretrained(tmp_path).eval()  # transformers' own reading of the folder
    assert ref.config.text_config.hidden_act == "quick_gelu"
    _loads_like_transformers(tmp_path, ref)


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


# ---- open_clip: a tiny model in the hub's layout (open_clip_config.json + weights) ----

def _open_clip_folder(root, quick_gelu: bool, weights: str):
    """A tiny open_clip CLIP saved as open_clip saves hub repos; open_clip reads it back itself."""
    open_clip = pytest.importorskip("open_clip")
    from open_clip.push_to_hf_hub import save_config_for_hf

    torch.manual_seed(1)
    model_cfg = {"embed_dim": 32, "quick_gelu": quick_gelu,
                 "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "head_width": 64, "layers": 2},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2}}
    model = open_clip.CLIP(**model_cfg).eval()
    model.visual.image_mean, model.visual.image_std = (0.1, 0.2, 0.3), (0.4, 0.5, 0.6)
    with torch.no_grad():  # random positional/projection scales: every part of the forward matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    save_config_for_hf(model, root / "open_clip_config.json", model_cfg)
    sd = model.state_dict()
    if weights.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(root / weights))
    else:
        torch.save(sd, root / weights)
    return open_clip.create_model(f"local-dir:{root}").eval()  # open_clip's own reading of the folder


@pytest.mark.parametrize("quick_gelu,weights", [(True, "open_clip_model.safetensors"),
                                                (False, "open_clip_pytorch_model.bin")])
def test_open_clip_folder_matches_open_clip_forward(tmp_path, quick_gelu, weights):
    ref = _open_clip_folder(tmp_path, quick_gelu, weights)
    found = locate(str(tmp_path))
    assert found.activation == ("quick_gelu" if quick_gelu else "gelu") and found.path.endswith(weights)
    assert found.mean == (0.1, 0.2, 0.3) and found.std == (0.4, 0.5, 0.6)  # the normalisation follows the model
    model = load_clip(str(tmp_path))
    x, ids = torch.randn(2, 3, 32, 32), clip.tokenize(["a red-winged bird with a short beak", "a photo"])
    with torch.no_grad():
        assert (model.encode_image(x) - ref.encode_image(x)).abs().max() < 1e-5
        assert (model.encode_text(ids) - ref.encode_text(ids)).abs().max() < 1e-5
        wrong = convert.build_clip(ref.state_dict(), convert.GELU if quick_gelu else convert.QUICK_GELU)
        assert (wrong.encode_image(x) - ref.encode_image(x)).abs().max() > 1e-3  # the check above can fail


def test_open_clip_configs_with_foreign_towers_or_siglip_are_refused(tmp_path):
    (tmp_path / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": {"vision_cfg": {"timm_model_name": "vit_base_patch16_siglip_224"}, "text_cfg": {}}}))
    with pytest.raises(convert.BackboneFormatError, match="timm_model_name"):
        convert.folder_activation(str(tmp_path))
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"init_logit_bias": -10}}))
    with pytest.raises(convert.BackboneFormatError, match="SigLIP model: it has no class token"):
        convert.folder_activation(str(tmp_path))


def test_transformers_normalisation_comes_from_its_preprocessor_config(hf_folder):
    _, folder, _ = hf_folder
    found = locate(str(folder))
    assert found.mean == (0.48145466, 0.4578275, 0.40821073)  # no preprocessor_config.json: OpenAI's values
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.25] * 3}))
    try:
        assert locate(str(folder)).std == (0.25, 0.25, 0.25)
    finally:
        (folder / "preprocessor_config.json").unlink()


def test_other_vocabularies_are_refused():
    sd = convert.from_transformers(_tiny_hf("gelu").state_dict())
    sd["token_embedding.weight"] = sd["token_embedding.weight"][:1000]
    with pytest.raises(convert.BackboneFormatError, match="1000 tokens, not the 49408"):
        convert.build_clip(sd, convert.GELU)


def test_other_mlp_proportions_are_one_line():
    narrow = _tiny_hf("gelu")
    cfg = narrow.config
    cfg.vision_config.intermediate_size = 128
    sd = convert.from_transformers(transformers.CLIPModel(cfg).state_dict())
    with pytest.raises(convert.BackboneFormatError, match="MLP is 128 wide, not 4 x its width 64"):
        convert.build_clip(sd, convert.GELU)


@pytest.mark.parametrize("tensor, shape", [("visual.conv1.weight", (40, 3, 8, 8)), ("ln_final.weight", (40,))])
def test_a_tower_width_clip_cannot_build_names_the_tensor_in_one_line(tensor, shape):
    """clip's build_model gives 40 // 64 = 0 heads; torch's own error named neither tensor nor file."""
    from tests.helpers import tiny_clip_model

    sd = tiny_clip_model().state_dict()
    sd[tensor] = torch.zeros(shape)
    with pytest.raises(convert.BackboneFormatError, match=rf"40 wide \({tensor} \[{', '.join(map(str, shape))}\]\)"):
        convert.build_clip(sd, convert.QUICK_GELU)


def test_a_shape_mismatch_is_one_line_naming_the_tensor():
    from tests.helpers import tiny_clip_model

    sd = tiny_clip_model().state_dict()
    sd["text_projection"] = torch.zeros(3, 5)
    with pytest.raises(convert.BackboneFormatError) as err:
        convert.build_clip(sd, convert.QUICK_GELU)
    assert "size mismatch for text_projection" in str(err.value) and "\n" not in str(err.value)


def test_tokenizer_ids_equal_open_clip_for_the_supported_models():
    """Every supported model tokenises with CLIP's BPE: the project's ids equal open_clip's,
    truncation (EOT kept last) included."""
    open_clip = pytest.importorskip("open_clip")
    from datasets.text import tokenize

    captions = ["A Red-winged Blackbird   perched on a reed.", "caf\u00e9 au lait &amp; cr\u00e8me br\u00fbl\u00e9e",
                "THE  plane's  tail-fin (blue/white), 3 engines!", " ".join(["long attribute-rich caption"] * 40)]
    ours, truncated = tokenize(captions)
    assert truncated == 1
    for name in ("ViT-B-32", "ViT-B-16", "ViT-L-14"):
        assert torch.equal(ours, open_clip.get_tokenizer(name)(captions)), name


def test_deep_prompts_train_on_a_converted_model(tmp_path):
    """MaPLe and DCAR on a transformers-format CLIP: every prompt parameter gets a gradient."""
    from tests.dcar_helpers import build, config_file, dcar_cfg, trainable

    folder = tmp_path / "hf"
    _tiny_hf("quick_gelu", layers=3).save_pretrained(folder)
    for trainer in ("MaPLe", "DCAR"):
        t = build(dcar_cfg(tmp_path / trainer, str(folder), trainer=trainer, config=config_file(trainer)))
        t.set_model_mode("train")
        t.num_batches, t.batch_idx = 10**6, 0
        t.forward_backward(next(iter(t.train_loader_x)))
        prompts = {n: p for n, p in trainable(t).named_parameters() if n.startswith("prompts.")}
        assert any(".deep_text." in n for n in prompts) and any(".couplings." in n for n in prompts)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in prompts.values()), trainer
