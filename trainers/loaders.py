"""Training batches for the retrieval trainers, the same on one process or many.

``DATALOADER.TRAIN_X.BATCH_SIZE`` is the *global* batch: with N processes each takes its
contiguous 1/N of every batch, so a run on N GPUs sees exactly the batches of a one-process run
with the same seed. The permutation of each pass is drawn from torch's global RNG, as
``RandomSampler`` draws it (so resumed runs, which restore the RNG, continue identically), on
rank 0, and broadcast.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from engine import distributed as dist

SAMPLERS = ("RandomSampler", "SequentialSampler")
# transforms of Dassl's INPUT.TRANSFORMS that involve no randomness
DETERMINISTIC_TRANSFORMS = frozenset({"normalize", "instance_norm", "center_crop"})


class GlobalBatchSampler(Sampler[list[int]]):
    def __init__(self, n: int, batch_size: int, shuffle: bool = True, drop_last: bool = True) -> None:
        world = dist.world_size()
        if batch_size < world:
            raise ValueError(f"DATALOADER.TRAIN_X.BATCH_SIZE {batch_size} is the global batch and must be at least "
                             f"the number of processes ({world})")
        if n < world:
            raise ValueError(f"{n} training items cannot be shared by {world} processes")
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(self.n))
        if self.shuffle:
            seed = dist.broadcast_int(int(torch.empty((), dtype=torch.int64).random_().item()))
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(seed)).tolist()
        r, w = dist.rank(), dist.world_size()
        for b in range(len(self)):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield batch[r * len(batch) // w:(r + 1) * len(batch) // w]


class ItemIndex(Dataset):
    """The items' index, label and domain without their images (for cached image features)."""

    def __init__(self, data_source: Sequence[Any]) -> None:
        self.data_source = data_source

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, i: int) -> dict:
        item = self.data_source[i]
        return {"index": i, "label": item.label, "domain": item.domain}


def train_loader(cfg: Any, dataset: Dataset, pin_memory: bool, with_images: bool = True) -> DataLoader:
    """The training loader over ``dataset`` (a ``DatasetWrapper``) with :class:`GlobalBatchSampler`;
    ``with_images`` False yields only indices and labels."""
    c = cfg.DATALOADER.TRAIN_X
    if c.SAMPLER not in SAMPLERS:
        raise ValueError(f"DATALOADER.TRAIN_X.SAMPLER {c.SAMPLER!r} is not supported by the retrieval trainers; "
                         f"use one of {SAMPLERS}")
    n = len(dataset)
    sampler = GlobalBatchSampler(n, c.BATCH_SIZE, c.SAMPLER == "RandomSampler", drop_last=n >= c.BATCH_SIZE)
    if not with_images:
        return DataLoader(ItemIndex(dataset.data_source), batch_sampler=sampler)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.DATALOADER.NUM_WORKERS, pin_memory=pin_memory)


def deterministic_train_transform(cfg: Any) -> bool:
    """Whether ``INPUT.TRANSFORMS`` gives every training image the same tensor each epoch."""
    return all(t in DETERMINISTIC_TRANSFORMS for t in cfg.INPUT.TRANSFORMS)
