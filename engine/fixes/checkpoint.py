"""Checkpoints in Dassl's file naming and dict layout, written atomically (docs/engine.md, "Trainer").

Layout: ``{dir}/{model_name}/model.pth.tar-{epoch}`` holding ``state_dict``, ``epoch``,
``optimizer``, ``scheduler`` and ``val_result`` (Dassl's keys) plus ``rng_state`` and
``best_result`` (ours, so a resumed run continues exactly where it stopped). A text file
``{dir}/{model_name}/checkpoint`` names the latest epoch checkpoint.

Fixes over Dassl, used under real Dassl too (``CheckpointMixin`` overrides its methods):
files are written to a temporary name and renamed, so a crash never leaves a torn latest
checkpoint; loading uses ``weights_only=True`` only -- a file holding pickled Python objects is
refused with the globals it names, never unpickled (docs/engine.md, "Trainer"); every epoch leaves a resume
point even with ``TRAIN.CHECKPOINT_FREQ 0`` (the previous one is removed, so disk use stays
one file); ``load_model`` tolerates ``val_result=None``.
"""
from __future__ import annotations

import io
import os
import random
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from .. import distributed
from ..safe_load import DamagedFileError, UnsafeFileError, load_weights_only
from ..writes import write_atomic

POINTER = "checkpoint"
BEST = "model-best.pth.tar"


def epoch_file(epoch: int) -> str:
    """File name of the checkpoint written after ``epoch`` completed epochs (1-based)."""
    return f"model.pth.tar-{epoch}"


def save_checkpoint(state: dict[str, Any], fpath: str) -> None:
    """Atomically ``torch.save`` ``state`` to ``fpath``, stripping any ``module.`` key prefix."""
    state = dict(state)
    if "state_dict" in state:
        state["state_dict"] = OrderedDict(
            (k[7:] if k.startswith("module.") else k, v) for k, v in state["state_dict"].items()
        )
    buf = io.BytesIO()  # serialised in memory: the disk sees one plain write of known size
    torch.save(state, buf)
    write_atomic(fpath, buf.getvalue())
    print(f"Checkpoint saved to {fpath}")


def write_pointer(directory: str, fname: str) -> None:
    write_atomic(os.path.join(directory, POINTER), f"{fname}\n")


def read_pointer(directory: str) -> str | None:
    path = os.path.join(directory, POINTER)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read().strip() or None


class CheckpointReadError(ValueError):
    """A checkpoint file that cannot be read safely: damaged, not a checkpoint, or holding code."""


def load_checkpoint(fpath: str) -> dict[str, Any]:
    """Load a checkpoint on CPU with ``torch.load(weights_only=True)`` only.

    The project's checkpoints hold tensors and plain values. A file that holds pickled Python
    objects (an upstream Dassl warm-up scheduler, or a payload that runs code when unpickled) is
    refused with the names of those objects and a fix, and so is a damaged file: a
    :class:`CheckpointReadError` naming the file.
    """
    if fpath is None:
        raise ValueError("File path is None")
    if not os.path.exists(fpath):
        raise FileNotFoundError(f'File is not found at "{fpath}"')
    try:
        checkpoint = load_weights_only(fpath)
    except UnsafeFileError as e:
        raise CheckpointReadError(
            f"Checkpoint {e}. Fix: if you wrote this file yourself (e.g. with upstream Dassl), re-save its tensors on "
            "that machine: ckpt = torch.load(path, weights_only=False); "  # safe: advice text for the user, not a call
            "torch.save({'state_dict': ckpt['state_dict'], 'epoch': ckpt['epoch']}, path)") from None
    except DamagedFileError as e:
        raise CheckpointReadError(f"Checkpoint {e}: the file is damaged or truncated (a run killed while copying it?). "
                                  "Fix: copy it again, or delete it to train that epoch again") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise CheckpointReadError(f'Checkpoint "{fpath}" holds a {type(checkpoint).__name__} without a "state_dict" '
                                  "entry: not a checkpoint of this project or of Dassl")
    return checkpoint


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states in a form ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointMismatchError(ValueError):
    """A checkpoint whose tensors do not fit the model built from the current config."""


def _load_state(model: torch.nn.Module, state_dict: dict[str, Any], path: str) -> None:
    hint = "Use the trainer and config the checkpoint was trained with."
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as e:  # shape mismatches
        detail = " ".join(str(e).split())
        raise CheckpointMismatchError(
            f'Checkpoint "{path}" does not match the model built from this config: {detail}. {hint}') from None
    if missing or unexpected:
        raise CheckpointMismatchError(
            f'Checkpoint "{path}" does not match the model built from this config '
            f"(missing keys: {missing}; unexpected keys: {unexpected}). {hint}"
        )


def load_weights(module: torch.nn.Module, model_dir: str, epoch: int | None = None) -> None:
    """Load a module's weights from its run-folder directory for evaluation: epoch ``epoch``, else
    the best-val model, else the latest one."""
    if epoch is not None:
        fname = epoch_file(epoch)
    elif os.path.isfile(os.path.join(model_dir, BEST)):
        fname = BEST
    else:
        fname = read_pointer(model_dir)
        if fname is None:
            raise FileNotFoundError(
                f'"{model_dir}" holds no checkpoint (neither {BEST} nor a "{POINTER}" file): the run stopped before '
                "its first epoch ended. Fix: run the same train.py command again to train it, or give a finished run folder")
    path = os.path.join(model_dir, fname)
    if not os.path.isfile(path):
        kept = sorted(f for f in os.listdir(model_dir) if f.startswith("model")) if os.path.isdir(model_dir) else []
        raise FileNotFoundError(f'Model not found at "{path}" (the folder holds: {", ".join(kept) or "no checkpoint"})')
    checkpoint = load_checkpoint(path)
    val = checkpoint.get("val_result")
    val_txt = f", val_result = {val:.1f}" if val is not None else ""
    print(f'Loading weights to {os.path.basename(model_dir)} from "{path}" (epoch = {checkpoint.get("epoch")}{val_txt})')
    _load_state(module, checkpoint["state_dict"], path)


class CheckpointMixin:
    """Epoch-end saving, resume and ``load_model`` for Dassl-style trainers.

    Placed before Dassl's (or our embedded) ``TrainerX`` in the MRO. Expects the
    ``TrainerBase`` attributes (``_models``, ``_optims``, ``_scheds``, ``cfg``, ``epoch`` ...).
    """

    def save_model(
        self, epoch: int, directory: str, is_best: bool = False, val_result: float | None = None, model_name: str = ""
    ) -> None:
        """Save every registered model after epoch index ``epoch``; update the resume pointer.
        Under ``torchrun`` rank 0 writes and every rank waits until it has."""
        fname = model_name or epoch_file(epoch + 1)
        if distributed.is_main():
            self._write_models(epoch, directory, fname, is_best, val_result, model_name)
        distributed.barrier()

    def _write_models(self, epoch: int, directory: str, fname: str, is_best: bool, val_result: float | None,
                      model_name: str) -> None:
        for name in self.get_model_names():
            sched = self._scheds[name]
            optim = self._optims[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
                "rng_state": get_rng_state(),
                "best_result": getattr(self, "best_result", None),
            }
            scaler = getattr(self, "scaler", None)
            if scaler is not None:
                state["scaler"] = scaler.state_dict()
            model_dir = os.path.join(directory, name)
            save_checkpoint(state, os.path.join(model_dir, fname))
            if not model_name:
                previous = read_pointer(model_dir)
                write_pointer(model_dir, fname)
                self._drop_resume_only(model_dir, previous, fname)
            if is_best:
                save_checkpoint(state, os.path.join(model_dir, BEST))

    def _drop_resume_only(self, model_dir: str, previous: str | None, current: str) -> None:
        """Remove the previous epoch file if it was written only as a resume point."""
        if previous is None or previous == current or not previous.startswith("model.pth.tar-"):
            return
        prev_epoch = int(previous.rsplit("-", 1)[1])
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        if freq > 0 and prev_epoch % freq == 0:
            return
        path = os.path.join(model_dir, previous)
        if os.path.exists(path):
            os.remove(path)

    def after_epoch(self) -> None:
        """Validate when selecting on val, and save: kept checkpoints per CHECKPOINT_FREQ/last epoch,
        otherwise a resume point replacing the previous one."""
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_freq = freq > 0 and (self.epoch + 1) % freq == 0
        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name=BEST)
        self.save_model(self.epoch, self.output_dir)
        if not (meet_freq or last_epoch):
            print(f"(resume point for epoch {self.epoch + 1}; replaced by the next epoch's)")

    def resume_model_if_exist(self, directory: str) -> int:
        """Restore models, optimisers, schedulers and RNG from the latest checkpoint; return the start epoch."""
        names = self.get_model_names()
        pointers = {name: read_pointer(os.path.join(directory, name)) for name in names}
        if not names or any(p is None for p in pointers.values()):
            print("No checkpoint found, train from scratch")
            return 0
        print(f"Found checkpoint at {directory} (will resume training)")
        start_epoch = 0
        for name in names:
            path = os.path.join(directory, name, pointers[name])
            print(f'Loading checkpoint from "{path}"')
            checkpoint = load_checkpoint(path)
            _load_state(self._models[name], checkpoint["state_dict"], path)
            print("Loaded model weights")
            if self._optims[name] is not None and checkpoint.get("optimizer") is not None:
                self._optims[name].load_state_dict(checkpoint["optimizer"])
                print("Loaded optimizer")
            if self._scheds[name] is not None and checkpoint.get("scheduler") is not None:
                self._scheds[name].load_state_dict(checkpoint["scheduler"])
                print("Loaded scheduler")
            scaler = getattr(self, "scaler", None)
            if scaler is not None and "scaler" in checkpoint:
                scaler.load_state_dict(checkpoint["scaler"])
            if checkpoint.get("best_result") is not None:
                self.best_result = checkpoint["best_result"]
            if "rng_state" in checkpoint:
                set_rng_state(checkpoint["rng_state"])
            start_epoch = checkpoint["epoch"]
            print(f"Previous epoch: {start_epoch}")
        return start_epoch

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load weights for evaluation: epoch ``epoch``, else the best-val model, else the latest one."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            load_weights(self._models[name], os.path.join(directory, name), epoch)
