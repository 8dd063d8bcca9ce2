"""PromptedCLIP's text-trimming switch and the evaluation's caption batching by token length
(trainers/model.py, evaluation/retrieval.py)."""
import pytest
import torch

from datasets.text import encode, tokenize
from evaluation.retrieval import Retrieval
from tests.dcar_helpers import build, trainer_cfg

CAPTIONS = ["a red emblem.", "This is a photo of Migal. A small red emblem with a thin white border, drawn at the "
            "centre of a square canvas, with a pale background.", "x"]


@pytest.mark.parametrize("name", ["DCAR", "ZeroshotCLIP"])
def test_text_trim_switch_changes_cost_not_features(tmp_path, ckpt, name):
    trimmed = build(trainer_cfg(tmp_path, ckpt, name))
    full = build(trainer_cfg(tmp_path, ckpt, name, TRAINER__TEXT_TRIM=False))
    with torch.no_grad():
        assert torch.allclose(trimmed.model.encode_text(CAPTIONS), full.model.encode_text(CAPTIONS), atol=1e-5, rtol=1e-5)
    if name == "ZeroshotCLIP":  # the plain path equals CLIP's own encode_text
        with torch.no_grad():
            ref = trimmed.model.clip.encode_text(tokenize(CAPTIONS)[0])
        assert torch.allclose(trimmed.model.encode_text(CAPTIONS), ref, atol=1e-5, rtol=1e-5)


def test_evaluation_batches_captions_by_token_length(tmp_path, ckpt):
    cfg = trainer_cfg(tmp_path, ckpt, "ZeroshotCLIP", TEST__RETRIEVAL__TEXT_BATCH_SIZE=2)
    strings = ["a b c d e f g h", "a", "a b c d", "a b", "a b c d e f", "a b c"]
    seen = []

    def encode_fn(batch):
        seen.append(batch)
        return torch.ones(len(batch), 4)

    feats = Retrieval(cfg).encode_captions(strings, encode_fn)
    assert set(feats) == set(strings)
    assert [[len(encode(s)) for s in b] for b in seen] == [[1, 2], [3, 4], [6, 8]]
