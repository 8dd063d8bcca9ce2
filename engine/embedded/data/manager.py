"""Data loaders from a config: DatasetWrapper, build_data_loader and DataManager (docs/engine.md, "Data")."""
from __future__ import annotations

from typing import Any, Callable

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler, SequentialSampler
from torchvision.transforms import Compose, Normalize, Resize, ToTensor

from ..utils import read_image
from .datasets import build_dataset
from .transforms import INTERPOLATION_MODES, build_transform

SAMPLERS = ("RandomSampler", "SequentialSampler")


def build_sampler(sampler_type: str, data_source: list) -> Sampler:
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    raise ValueError(
        f"Unknown sampler type: {sampler_type} (the embedded engine provides {', '.join(SAMPLERS)}; "
        "Dassl's domain/class samplers need Dassl installed)"
    )


class DatasetWrapper(Dataset):
    """Reads and transforms the images of a list of ``Datum``; items are dicts (Dassl's keys)."""

    def __init__(self, cfg: Any, data_source: list, transform: Any = None, is_train: bool = False) -> None:
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0
        if self.k_tfm > 1 and transform is None:
            raise ValueError(f"Cannot augment the image {self.k_tfm} times because transform is None")
        interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        to_tensor: list[Callable] = [Resize(tuple(cfg.INPUT.SIZE), interpolation=interp), ToTensor()]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            to_tensor.append(Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = Compose(to_tensor)

    def __len__(self) -> int:
        return len(self.data_source)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        item = self.data_source[idx]
        output: dict[str, Any] = {"label": item.label, "domain": item.domain, "impath": item.impath, "index": idx}
        img0 = read_image(item.impath)
        if self.transform is None:
            output["img"] = img0
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                output["img" if i == 0 else f"img{i + 1}"] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)
        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm: Callable, img0: Any) -> Any:
        imgs = [tfm(img0) for _ in range(self.k_tfm)]
        return imgs[0] if len(imgs) == 1 else imgs


def build_data_loader(
    cfg: Any,
    sampler_type: str = "SequentialSampler",
    data_source: list | None = None,
    batch_size: int = 64,
    n_domain: int = 0,
    n_ins: int = 2,
    tfm: Any = None,
    is_train: bool = True,
    dataset_wrapper: Any = None,
) -> DataLoader:
    if not data_source:
        raise ValueError("Cannot build a data loader from an empty data source")
    wrapper = dataset_wrapper or DatasetWrapper
    loader = DataLoader(
        wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=build_sampler(sampler_type, data_source),
        num_workers=cfg.DATALOADER.NUM_WORKERS,
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=torch.cuda.is_available() and cfg.USE_CUDA,
    )
    if len(loader) == 0:
        raise ValueError(f"The data loader over {len(data_source)} items with batch size {batch_size} yields no batch")
    return loader


class DataManager:
    """Builds the dataset named by ``DATASET.NAME`` and its train/val/test loaders."""

    def __init__(self, cfg: Any, custom_tfm_train: Any = None, custom_tfm_test: Any = None, dataset_wrapper: Any = None) -> None:
        dataset = build_dataset(cfg)
        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        dl = cfg.DATALOADER
        self.train_loader_x = build_data_loader(
            cfg, dl.TRAIN_X.SAMPLER, dataset.train_x, dl.TRAIN_X.BATCH_SIZE, dl.TRAIN_X.N_DOMAIN,
            dl.TRAIN_X.N_INS, tfm_train, True, dataset_wrapper,
        )
        self.train_loader_u = None
        if dataset.train_u:
            u = dl.TRAIN_X if dl.TRAIN_U.SAME_AS_X else dl.TRAIN_U
            self.train_loader_u = build_data_loader(
                cfg, u.SAMPLER, dataset.train_u, u.BATCH_SIZE, u.N_DOMAIN, u.N_INS, tfm_train, True, dataset_wrapper
            )
        self.val_loader = None
        if dataset.val:
            self.val_loader = build_data_loader(
                cfg, dl.TEST.SAMPLER, dataset.val, dl.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False,
                dataset_wrapper=dataset_wrapper,
            )
        self.test_loader = build_data_loader(
            cfg, dl.TEST.SAMPLER, dataset.test, dl.TEST.BATCH_SIZE, tfm=tfm_test, is_train=False,
            dataset_wrapper=dataset_wrapper,
        )
        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname
        self.dataset = dataset
        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_source_domains(self) -> int:
        return self._num_source_domains

    @property
    def lab2cname(self) -> dict[int, str]:
        return self._lab2cname

    def show_dataset_summary(self, cfg: Any) -> None:
        rows = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            rows.append(["Source", cfg.DATASET.SOURCE_DOMAINS])
        if cfg.DATASET.TARGET_DOMAINS:
            rows.append(["Target", cfg.DATASET.TARGET_DOMAINS])
        rows.append(["# classes", f"{self.num_classes:,}"])
        rows.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            rows.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            rows.append(["# val", f"{len(self.dataset.val):,}"])
        rows.append(["# test", f"{len(self.dataset.test):,}"])
        print(tabulate(rows))
