"""engine/safe_load.py: a torch.save file with a code payload is refused, naming the object, and
the payload never runs (on a full unpickling -- the old fall-back -- it would create the sentinel);
damaged files are named; plain tensors load."""
import os

import pytest
import torch

from engine.safe_load import DamagedFileError, UnsafeFileError, load_weights_only, pickled_objects


class Payload:
    """Unpickling this calls ``open(path, "w")``: the sentinel file appears if the pickle is run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def payload_file(folder, name="model.pth.tar-1"):
    """A checkpoint-shaped file whose pickle runs ``open(sentinel, "w")`` when loaded in full."""
    sentinel, path = folder / "SENTINEL", folder / name
    torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 1, "scheduler": Payload(str(sentinel))}, path)
    return str(path), sentinel


def test_a_code_payload_is_refused_by_name_and_never_runs(tmp_path):
    path, sentinel = payload_file(tmp_path)
    with pytest.raises(UnsafeFileError) as err:
        load_weights_only(path)
    assert "io.open" in str(err.value) and path in str(err.value) and "could run code" in str(err.value)
    assert err.value.objects == ["io.open"]
    assert not sentinel.exists()
    assert pickled_objects(path) == ["io.open"] and not sentinel.exists()  # read from the opcodes only


@pytest.mark.parametrize("content, said", [(b"", "is empty"), (os.urandom(3000), "cannot be read")])
def test_empty_and_random_files_are_named_as_damaged(tmp_path, content, said):
    path = tmp_path / "f.pt"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError, match=said) as err:
        load_weights_only(str(path))
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_truncated_archive_is_damaged_and_a_plain_one_loads(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"state_dict": {"w": torch.arange(3.0)}, "epoch": 2, "val_result": None}, path)
    assert torch.equal(load_weights_only(str(path))["state_dict"]["w"], torch.arange(3.0))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DamagedFileError, match="cannot be read"):
        load_weights_only(str(cut))
