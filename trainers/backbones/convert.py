"""Published CLIP checkpoint formats -> the ``clip`` package's ``CLIP`` in fp32 (docs/backbones.md).

Formats are told apart by their keys and config files, never by file names:

- OpenAI / open_clip layout (``visual.conv1.weight``, ``transformer.resblocks.*``), the layout
  the ``clip`` model class reads directly;
- transformers ``CLIPModel`` (``vision_model.*``, ``text_model.*``): q/k/v projections are merged
  into ``in_proj``, layer norms and MLP layers renamed, the two projections transposed.

The MLP activation is part of the weights: OpenAI's models were trained with QuickGELU, most of
open_clip's zoo with exact GELU. It is read from the source and the model is built with it.
"""
from __future__ import annotations

import json
import os
import warnings

import torch
from torch import nn

with warnings.catch_warnings():  # clip imports pkg_resources, which warns on import
    warnings.simplefilter("ignore")
    from clip.model import CLIP, ResidualAttentionBlock, build_model

QUICK_GELU = "quick_gelu"
GELU = "gelu"
ACTIVATIONS = (QUICK_GELU, GELU)
_BUILD_ONLY_KEYS = ("input_resolution", "context_length", "vocab_size")
_TRANSFORMERS_CONFIG = "config.json"
_OPEN_CLIP_CONFIG = "open_clip_config.json"
CONFIG_FILES = (_OPEN_CLIP_CONFIG, _TRANSFORMERS_CONFIG)  # a timm repo's config.json is not a CLIP config
WEIGHT_FILES = {
    _TRANSFORMERS_CONFIG: ("model.safetensors", "pytorch_model.bin"),
    _OPEN_CLIP_CONFIG: ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
}
NORMALISATION_FILES = {_TRANSFORMERS_CONFIG: "preprocessor_config.json"}  # open_clip's config holds its own
HEAD_WIDTH = 64  # the clip model class gives each transformer width // 64 attention heads
CLIP_VOCAB = 49408  # the BPE tokenizer's size (datasets/text.py tokenises every caption with it)
_UNSUPPORTED = ("siglip", "siglip2")
_UNSUPPORTED_WHY = ("it has no class token, no causal text mask and a SentencePiece tokenizer, "
                    "which the deep-prompt driver needs")
_LAYER_NAMES = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                "self_attn.out_proj": "attn.out_proj"}


class BackboneFormatError(ValueError):
    """A checkpoint whose format, architecture or activation the project cannot serve."""


def is_transformers_layout(state_dict: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("vision_model.", "text_model.")) for k in state_dict)


def _tower(prefix_in: str, prefix_out: str, sd: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> None:
    """One transformers encoder stack -> ``<prefix_out>.resblocks.<i>.*``."""
    layers = sorted({int(k.split(".")[3]) for k in sd if k.startswith(f"{prefix_in}.encoder.layers.")})
    for i in layers:
        src, dst = f"{prefix_in}.encoder.layers.{i}.", f"{prefix_out}.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat(
                [sd[src + f"self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")], dim=0)
            for old, new in _LAYER_NAMES.items():
                out[dst + f"{new}.{kind}"] = sd[src + f"{old}.{kind}"]


def from_transformers(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers ``CLIPModel`` state dict in the OpenAI layout (ViT image towers only)."""
    if "vision_model.embeddings.patch_embedding.weight" not in sd:
        raise BackboneFormatError("transformers checkpoint without vision_model.embeddings.patch_embedding: "
                                  "only CLIP ViT models are supported")
    try:
        return _openai_keys(sd)
    except KeyError as e:
        raise BackboneFormatError(f"transformers CLIP checkpoint without {e}") from e


def _openai_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    v, t = "vision_model.", "text_model."
    out = {
        "visual.class_embedding": sd[v + "embeddings.class_embedding"],
        "visual.conv1.weight": sd[v + "embeddings.patch_embedding.weight"],
        "visual.positional_embedding": sd[v + "embeddings.position_embedding.weight"],
        "visual.proj": sd["visual_projection.weight"].t().contiguous(),
        "token_embedding.weight": sd[t + "embeddings.token_embedding.weight"],
        "positional_embedding": sd[t + "embeddings.position_embedding.weight"],
        "text_projection": sd["text_projection.weight"].t().contiguous(),
        "logit_scale": sd["logit_scale"],
    }
    for kind in ("weight", "bias"):
        out[f"visual.ln_pre.{kind}"] = sd[v + f"pre_layrnorm.{kind}"]
        out[f"visual.ln_post.{kind}"] = sd[v + f"post_layernorm.{kind}"]
        out[f"ln_final.{kind}"] = sd[t + f"final_layer_norm.{kind}"]
    _tower("vision_model", "visual.transformer", sd, out)
    _tower("text_model", "transformer", sd, out)
    return out


def build_clip(state_dict: dict[str, torch.Tensor], activation: str) -> CLIP:
    """The ``CLIP`` for an OpenAI-layout state dict, in fp32 with the exact stored values, eval mode.

    ``clip.model.build_model`` rounds conv, linear and attention weights to fp16; the stored
    values are loaded again after the cast back, so fp32 checkpoints keep their precision.
    """
    if activation not in ACTIVATIONS:
        raise BackboneFormatError(f'activation "{activation}" is not one of {", ".join(ACTIVATIONS)}')
    if "text_projection" not in state_dict or "token_embedding.weight" not in state_dict:
        raise BackboneFormatError("the state dict is not a CLIP checkpoint (no text_projection / token_embedding.weight)")
    vocab = state_dict["token_embedding.weight"].shape[0]
    if vocab != CLIP_VOCAB:
        raise BackboneFormatError(f"the text tower has {vocab} tokens, not the {CLIP_VOCAB} of CLIP's BPE tokenizer, "
                                  "which every caption is tokenised with")
    vit = "visual.proj" in state_dict  # as clip.model.build_model tells a ViT from a ResNet image tower
    for width_of, tensor in (("the image tower", "visual.conv1.weight" if vit else ""), ("the text tower", "ln_final.weight")):
        if tensor not in state_dict:
            continue
        width = state_dict[tensor].shape[0]
        if width % HEAD_WIDTH or not width:
            raise BackboneFormatError(f"{width_of} is {width} wide ({tensor} {list(state_dict[tensor].shape)}), not a "
                                      f"multiple of CLIP's {HEAD_WIDTH}-wide attention heads: not a CLIP checkpoint, or "
                                      "a damaged one")
    for tower in ("visual.transformer", "transformer"):
        fc = state_dict.get(f"{tower}.resblocks.0.mlp.c_fc.weight")
        if fc is not None and fc.shape[0] != 4 * fc.shape[1]:
            raise BackboneFormatError(f"the {tower} MLP is {fc.shape[0]} wide, not 4 x its width {fc.shape[1]}: "
                                      "the clip model class holds only CLIP's own proportions")
    sd = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items() if k not in _BUILD_ONLY_KEYS}
    try:
        model = build_model(sd).float()  # it keeps sd unchanged
        model.load_state_dict(sd)
    except (RuntimeError, KeyError, AssertionError, ValueError) as e:
        detail = " ".join(str(e).replace("Error(s) in loading state_dict for CLIP:", "").split())
        raise BackboneFormatError(f"the weights do not match the CLIP architecture: "
                                  f"{detail[:500]}{' ...' if len(detail) > 500 else ''}") from None
    if activation == GELU:
        for block in model.modules():
            if isinstance(block, ResidualAttentionBlock):
                block.mlp.gelu = nn.GELU()
    return model.eval()


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise BackboneFormatError(f'cannot read "{path}": {e}') from e


def folder_normalisation(folder: str, config_name: str, mean: tuple, std: tuple) -> tuple[tuple, tuple]:
    """The image mean/std a model folder states (open_clip's ``preprocess_cfg``, transformers'
    ``preprocessor_config.json``), else the given defaults."""
    if config_name == _OPEN_CLIP_CONFIG:
        pre, keys = _read_json(os.path.join(folder, config_name)).get("preprocess_cfg", {}), ("mean", "std")
    else:
        path = os.path.join(folder, NORMALISATION_FILES[config_name])
        pre, keys = (_read_json(path) if os.path.isfile(path) else {}), ("image_mean", "image_std")
    got = [pre.get(k) for k in keys]
    if not all(isinstance(v, list) and len(v) == 3 for v in got):
        return mean, std
    return tuple(map(float, got[0])), tuple(map(float, got[1]))


def folder_activation(folder: str) -> tuple[str, str]:
    """(config file name, activation) for a transformers or open_clip model folder."""
    tf, oc = os.path.join(folder, _TRANSFORMERS_CONFIG), os.path.join(folder, _OPEN_CLIP_CONFIG)
    if os.path.isfile(oc):
        model_cfg = _read_json(oc).get("model_cfg", {})
        if "init_logit_bias" in model_cfg:  # the sigmoid loss's bias: a SigLIP model
            raise BackboneFormatError(f'"{folder}" holds a SigLIP model: {_UNSUPPORTED_WHY}')
        towers = {**model_cfg.get("vision_cfg", {}), **model_cfg.get("text_cfg", {})}
        foreign = [k for k in ("timm_model_name", "hf_model_name") if towers.get(k)]
        if foreign:
            raise BackboneFormatError(f'"{oc}" builds a tower from {foreign[0]} "{towers[foreign[0]]}": only '
                                      "open_clip's own CLIP towers (the OpenAI layout) are supported")
        # open_clip's own default when the key is absent is GELU (its CLIP class: quick_gelu=False)
        return _OPEN_CLIP_CONFIG, QUICK_GELU if model_cfg.get("quick_gelu", False) else GELU
    if os.path.isfile(tf):
        cfg = _read_json(tf)
        kind = cfg.get("model_type", "")
        if kind in _UNSUPPORTED:
            raise BackboneFormatError(f'"{folder}" holds a {kind} model: {_UNSUPPORTED_WHY}')
        if kind != "clip":
            raise BackboneFormatError(f'"{tf}" has model_type "{kind}", not "clip"')
        # transformers' CLIPTextConfig/CLIPVisionConfig default hidden_act to quick_gelu, and save_pretrained
        # (4.x) leaves a default out of config.json: an absent key means quick_gelu, as transformers reads it
        acts = {(cfg.get(part) or {}).get("hidden_act", QUICK_GELU) for part in ("text_config", "vision_config")}
        if len(acts) != 1 or not acts <= set(ACTIVATIONS):
            raise BackboneFormatError(f'"{tf}": hidden_act {sorted(map(str, acts))} is not one shared '
                                      f'activation among {", ".join(ACTIVATIONS)}')
        return _TRANSFORMERS_CONFIG, acts.pop()
    raise BackboneFormatError(f'"{folder}" has neither {_TRANSFORMERS_CONFIG} (transformers) nor '
                              f"{_OPEN_CLIP_CONFIG} (open_clip): the activation cannot be known")


def folder_weights(folder: str, config_name: str) -> str:
    """The weight file of a model folder (safetensors preferred)."""
    for name in WEIGHT_FILES[config_name]:
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise BackboneFormatError(f'"{folder}" has {config_name} but none of {", ".join(WEIGHT_FILES[config_name])}')
