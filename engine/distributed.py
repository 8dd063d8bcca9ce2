"""Multi-process training on PyTorch's own distributed engine (``torchrun``).

``torchrun --nproc_per_node=N train.py ...`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
:func:`setup` then joins the process group (NCCL on CUDA, gloo on CPU). Without those
variables every helper here is the identity / a no-op, so single-process code needs no branch.

Conventions: rank 0 alone logs, writes checkpoints and result files; every rank reads them.
"""
from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(use_cuda: bool) -> None:
    """Join the process group of a ``torchrun`` launch (once); pin this process's GPU."""
    if not launched() or is_distributed():
        return
    cuda = use_cuda and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")


def cleanup() -> None:
    if is_distributed():
        dist.destroy_process_group()


def local_cuda_device() -> torch.device:
    """The GPU of this process (``LOCAL_RANK`` under ``torchrun``)."""
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if launched() else torch.cuda.current_device())


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_int(value: int) -> int:
    """Rank 0's ``value`` on every rank."""
    if not is_distributed():
        return value
    out = [value]
    dist.broadcast_object_list(out, src=0)
    return int(out[0])


def per_rank(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order."""
    if not is_distributed():
        return [value]
    out = [None] * world_size()
    dist.all_gather_object(out, value)
    return out


def shard(n: int) -> range:
    """This rank's contiguous part of ``range(n)`` (parts differ in size by at most one)."""
    r, w = rank(), world_size()
    return range(r * n // w, (r + 1) * n // w)


def _gather_padded(x: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``x`` (first dimensions may differ between ranks), without gradients."""
    sizes = [None] * world_size()
    dist.all_gather_object(sizes, int(x.shape[0]))
    pad = x.new_zeros(max(sizes), *x.shape[1:])
    pad[: x.shape[0]] = x.detach()
    parts = [torch.empty_like(pad) for _ in sizes]
    dist.all_gather(parts, pad)
    return [p[:s] for p, s in zip(parts, sizes)]


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows in rank order (no gradient)."""
    if not is_distributed():
        return x
    return torch.cat(_gather_padded(x))


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows in rank order; gradients flow to this rank's own rows.

    Each rank then computes the global-batch loss and back-propagates into its local part only;
    summing those parts over ranks gives the full gradient, so callers scale the loss by the
    world size before the gradients are averaged (:func:`average_gradients`).
    """
    if not is_distributed():
        return x
    parts = _gather_padded(x)
    parts[rank()] = x
    return torch.cat(parts)


def gather_objects(values: list[Any]) -> list[Any]:
    """Concatenate every rank's list in rank order."""
    if not is_distributed():
        return values
    out = [None] * world_size()
    dist.all_gather_object(out, values)
    return [v for part in out for v in part]


def broadcast_parameters(params: list[torch.Tensor]) -> None:
    """Rank 0's values of ``params`` on every rank (trainable parameters start equal)."""
    if is_distributed():
        for p in params:
            dist.broadcast(p.data, src=0)


def scaled_for_averaging(global_loss: torch.Tensor) -> torch.Tensor:
    """A loss over the global batch (every rank's rows), as each rank backpropagates it: times the
    world size, since :func:`average_gradients` divides the summed gradients by it again."""
    return global_loss * world_size()


def average_gradients(params: list[torch.Tensor]) -> None:
    """Average the gradients of ``params`` over the ranks, in one flat all-reduce (as DDP does:
    each rank's gradient divided by the world size, then summed); call between backward and step."""
    if not is_distributed():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads]).div_(world_size())
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
