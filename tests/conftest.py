"""Shared fixtures (tiny CLIP checkpoints in both formats; stdout restored after each test) and
the plugins and toy modules registered once; helpers live in tests/helpers.py."""
from __future__ import annotations

import os
import sys
import warnings

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from plugins import load_plugins  # noqa: E402

load_plugins()
from tests import toy  # noqa: E402,F401  (registers ToyColours / ToyTrainer)
from tests.helpers import tiny_clip_model  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_stdout():
    """train.main() tees stdout into a log file; undo that after each test."""
    saved = sys.stdout
    yield
    if sys.stdout is not saved:
        sys.stdout.close()
        sys.stdout = saved


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory):
    """A tiny CLIP saved as a plain state dict (which states no activation), as a safetensors file
    that states it (``described``: what the run tests load) and as a traced TorchScript archive."""
    import clip

    from trainers.backbones.files import save_safetensors

    folder = tmp_path_factory.mktemp("tiny_clip")
    model = tiny_clip_model()
    state_path = folder / "tiny_state_dict.pt"
    torch.save(model.state_dict(), state_path)
    described = folder / "tiny_clip.safetensors"
    save_safetensors(model.state_dict(), str(described), "quick_gelu")
    image = torch.randn(2, 3, 32, 32)
    text = clip.tokenize(["a photo of a cat.", "a dog"])
    with warnings.catch_warnings():  # tracing warnings and jit deprecation are expected here
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (image, text), check_trace=False)
        jit_path = folder / "tiny_jit.pt"
        torch.jit.save(traced, str(jit_path))
    return {"state_dict": str(state_path), "described": str(described), "jit": str(jit_path), "model": model,
            "image": image, "text": text}


@pytest.fixture(scope="session")
def ckpt(tiny_clip_files):
    """The tiny CLIP's weight file that states its activation (a ``MODEL.BACKBONE.NAME``)."""
    return tiny_clip_files["described"]
