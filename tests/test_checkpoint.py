"""engine/fixes/checkpoint.py: a run folder's checkpoint is read with weights_only=True only -- a
payload is refused with the fix and never runs (the old fall-back unpickled it in full, through
load_weights as `trained retrieve` and --eval-only use it, and through resume); damaged files and
a run stopped before its first checkpoint get one named line."""
import os

import pytest
import torch

from engine.fixes.checkpoint import BEST, CheckpointReadError, load_checkpoint, load_weights, write_pointer
from tests.test_safe_load import payload_file


def test_a_payload_checkpoint_is_refused_with_the_fix_and_never_runs(tmp_path):
    learner = tmp_path / "prompt_learner"
    learner.mkdir()
    path, sentinel = payload_file(learner)
    write_pointer(str(learner), "model.pth.tar-1")
    with pytest.raises(CheckpointReadError) as err:
        load_weights(torch.nn.Linear(2, 1), str(learner))
    msg = str(err.value)
    assert path in msg and "io.open" in msg and "re-save its tensors" in msg
    assert not sentinel.exists()


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 50])
def test_empty_or_random_checkpoints_are_one_named_line(tmp_path, content):
    path = tmp_path / BEST
    path.write_bytes(content)
    with pytest.raises(CheckpointReadError) as err:
        load_checkpoint(str(path))
    assert str(path) in str(err.value) and "damaged" in str(err.value) and "\n" not in str(err.value)


def test_a_file_without_state_dict_is_not_a_checkpoint(tmp_path):
    path = tmp_path / BEST
    torch.save([1, 2], path)
    with pytest.raises(CheckpointReadError, match="holds a list without a \"state_dict\""):
        load_checkpoint(str(path))


def test_a_run_stopped_before_its_first_checkpoint_says_so(tmp_path):
    learner = tmp_path / "prompt_learner"
    learner.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.*stopped before its first epoch ended"):
        load_weights(torch.nn.Linear(2, 1), str(learner))
    module = torch.nn.Linear(2, 1)
    torch.save({"state_dict": module.state_dict(), "epoch": 1}, learner / "model.pth.tar-1")
    with pytest.raises(FileNotFoundError, match=r"model.pth.tar-3.*holds: model.pth.tar-1"):
        load_weights(module, str(learner), epoch=3)
    load_weights(module, str(learner), epoch=1)
    assert os.path.isfile(learner / "model.pth.tar-1")
