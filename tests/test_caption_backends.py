"""datasets/captioning/backends.py: the transformers backend on a tiny VLM built here (random
weights, the code path a real model takes), its offline error, and the synthetic backend."""
import os

import pytest
import torch
from PIL import Image

from datasets.captioning.backends import BackendUnavailable, Request, SynthVLM, TransformersVLM

transformers = pytest.importorskip("transformers")
WORDS = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "user", "assistant", ":"] + (
    "a the red blue cat bird on of with small large image describe this photo it is in OK FIX".split())
TEMPLATE = ("{% for m in messages %}{{ m['role'] }} :{% for c in m['content'] %}{% if c['type'] == 'image' %} <image>"
            "{% else %} {{ c['text'] }}{% endif %}{% endfor %} {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}")


def tiny_vlm(folder) -> str:
    """A LLaVA-architecture VLM with a 25-word vocabulary and 2-layer towers, saved like a hub model."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                                     bos_token="<s>", eos_token="</s>",
                                                     extra_special_tokens={"image_token": "<image>"})
    images = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    vision = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=32, patch_size=16, projection_dim=32)
    text = transformers.LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                    num_attention_heads=2, num_key_value_heads=2, pad_token_id=1, bos_token_id=2,
                                    eos_token_id=3)
    cfg = transformers.LlavaConfig(vision_config=vision, text_config=text, image_token_index=4, image_seq_length=4,
                                   vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    transformers.LlavaForConditionalGeneration(cfg).save_pretrained(folder)
    transformers.LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=16, chat_template=TEMPLATE,
                                vision_feature_select_strategy="default", num_additional_image_tokens=1
                                ).save_pretrained(folder)
    return str(folder)


def test_transformers_backend_answers_a_batch(tmp_path):
    model = tiny_vlm(tmp_path / "tiny-vlm")
    paths = []
    for i, (size, colour) in enumerate((((40, 40), (255, 0, 0)), ((50, 30), (0, 0, 255)))):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", size, colour).save(paths[-1])
    vlm = TransformersVLM(model, prec="amp", max_new_tokens=6)
    assert vlm.model is None  # loaded lazily
    reqs = [Request(f"k{i}", p, "Birds", "robin", "describe this photo") for i, p in enumerate(paths)]
    out = vlm.answer(reqs)
    assert len(out) == 2 and all(isinstance(t, str) and t for t in out)
    assert all(w in WORDS for t in out for w in t.split())
    assert vlm.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert vlm.model.dtype == (torch.float32 if vlm.device.type == "cpu" else vlm.model.dtype)
    assert vlm.answer(reqs[:1]) == out[:1]  # greedy: a row's answer does not depend on its batch (left padding)


def test_offline_error_names_the_model_and_the_fix(tmp_path):
    """Without the weights and without a network (HF_HUB_OFFLINE, read when the hub library loads:
    hence a fresh process), loading fails with the model's name and how to place it."""
    import subprocess
    import sys

    code = ("from datasets.captioning.backends import TransformersVLM, BackendUnavailable\n"
            "try:\n    TransformersVLM('internlm/internlm-xcomposer2d5-7b').load()\n"
            "except BackendUnavailable as e:\n    print(e)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    msg = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                         timeout=300).stdout
    assert "internlm/internlm-xcomposer2d5-7b" in msg and "hf download" in msg and "--model" in msg


def _synth(tmp_path):
    from datasets.fdrd.synth import SynthSpec, entries, generate

    folder = str(tmp_path / "synth")
    generate(folder, SynthSpec(1, 4, 3, 3, 32, 0), progress=False)
    return folder, [(k, p, e) for _, k, p, e in entries(folder, "train")]


def test_synth_backend_describes_from_the_truth_and_reviews(tmp_path):
    folder, items = _synth(tmp_path)
    vlm = SynthVLM(folder)
    key, path, e = items[0]
    f = e["factors"]
    req = Request(key, path, "FDRDSynth", f["subcategory"], f"it is a {f['subcategory']}")
    text = vlm.answer([req])[0]
    assert f["subcategory"] in text and f["colour"] in text and vlm.answer([req])[0] == text
    assert vlm.answer([Request(key, path, "D", "S", "rubric", "review", caption=text)]) == ["OK"]
    wrong = "red" if f["colour"] != "red" else "blue"
    verdict = vlm.answer([Request(key, path, "D", "S", "rubric", "review", caption=text.replace(f["colour"], wrong))])[0]
    assert verdict == f"FIX: the colour is {f['colour']}, not {wrong}."
    noisy = SynthVLM(folder, noise=1.0)
    assert any(noisy.answer([Request(k, p, "D", "S", "q")])[0].startswith("I'm sorry") for k, p, _ in items)
    with pytest.raises(BackendUnavailable, match="not an image of the FDRDSynth folder"):
        vlm.answer([Request("x", os.path.join(str(tmp_path), "other.png"), "D", "S", "q")])


def remote_code_folder(folder, sentinel) -> str:
    """A model folder whose config.json maps the auto classes to its own module, which creates
    ``sentinel`` when imported (what a folder handed to --model could carry)."""
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"model_type": "evil", "architectures": ["EvilModel"], "auto_map": {"AutoConfig": "evil.EvilConfig", '
        '"AutoModel": "evil.EvilModel", "AutoModelForImageTextToText": "evil.EvilModel"}}')
    (folder / "evil.py").write_text(
        f"open({str(sentinel)!r}, 'w').close()\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n")
    return str(folder)


def test_a_folders_own_python_never_runs_without_trust_remote_code(tmp_path):
    sentinel = tmp_path / "SENTINEL"
    model = remote_code_folder(tmp_path / "evil-vlm", sentinel)
    with pytest.raises(BackendUnavailable) as err:
        TransformersVLM(model).load()
    assert "--trust-remote-code" in str(err.value) and "ships its own Python code" in str(err.value)
    assert not sentinel.exists()


def test_a_local_folder_is_not_told_to_hf_download_itself(tmp_path):
    folder = tmp_path / "half-copied"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llava"}')
    with pytest.raises(BackendUnavailable) as err:
        TransformersVLM(str(folder)).load()
    assert "hf download" not in str(err.value) and str(folder) in str(err.value)
