"""The ``FDRD`` dataset: any subset of the nine domains (and a custom one) from the released
caption files and CoOp's image layout under ``DATASET.ROOT`` (FDRD.md; METHOD.md §6)."""
from __future__ import annotations

import os
from typing import Any

from yacs.config import CfgNode as CN

from engine import DATASET_REGISTRY, DatasetBase

from .captions import FDRDFormatError, expected_files, find_caption_files
from .domains import DOMAINS, Domain, custom_domain, find_domain
from .loader import FDRDDataError, LoadOptions, load_domain
from .splits import SplitFileError


def extend_cfg(cfg: Any) -> None:
    """``DATASET.FDRD.*`` keys (shared by FDRD and FDRDSynth)."""
    c = CN()
    c.CAPTION_DIR = ""  # default: $DATA/fdrd
    c.DOMAINS = ("all",)  # names from the results table (or aliases), or "all"
    c.SKIP_MISSING_DOMAINS = False  # skip (and log) domains whose files are missing or unreadable
    c.NUM_CATEGORY_NEGATIVES = 4  # K_c, METHOD.md §4.1
    c.NUM_ATTRIBUTE_NEGATIVES = 1  # K_a
    c.SKIP_BAD_IMAGES = False  # skip missing/unreadable images (counted) instead of failing
    c.SKIP_BAD_ENTRIES = False  # skip malformed entries (counted) instead of failing
    c.CHECK_IMAGES = True  # read every used image's header at load time
    c.EVAL_ONLY = False  # a domain without a train file can still be evaluated
    c.CACHE_DIR = ""  # few-shot cache; default: <caption dir>/split_fewshot
    c.CUSTOM_NAME = ""  # your own domain: its name (add it to DOMAINS) ...
    c.CUSTOM_IMAGE_DIR = ""  # ... the folder its image paths are relative to ...
    c.CUSTOM_TRAIN_FILE = ""  # ... and its caption files in FDRD's schema
    c.CUSTOM_TEST_FILE = ""
    cfg.DATASET.FDRD = c


def load_options(cfg: Any, cache_dir: str) -> LoadOptions:
    c = cfg.DATASET.FDRD
    return LoadOptions(
        seed=cfg.SEED, shots=cfg.DATASET.NUM_SHOTS, num_category=c.NUM_CATEGORY_NEGATIVES,
        num_attribute=c.NUM_ATTRIBUTE_NEGATIVES, skip_bad_images=c.SKIP_BAD_IMAGES,
        skip_bad_entries=c.SKIP_BAD_ENTRIES, check_images=c.CHECK_IMAGES, eval_only=c.EVAL_ONLY,
        cache_dir=c.CACHE_DIR or cache_dir,
    )


class CaptionDataset(DatasetBase):
    """Loads the domains that :meth:`sources` names, one after the other, with global labels."""

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        raise NotImplementedError

    def __init__(self, cfg: Any) -> None:
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        selected, cache_dir = self.sources(cfg, root)
        opts = load_options(cfg, cache_dir)
        splits: dict[str, list] = {"train": [], "val": [], "test": []}
        self.reports, self.domain_names, self.domain_classnames = [], [], []
        offset = 0
        for domain, files in selected:
            try:
                items, names, report = load_domain(domain, len(self.domain_names), offset, files, root, opts)
            except (FDRDFormatError, FDRDDataError, SplitFileError) as e:
                if not cfg.DATASET.FDRD.SKIP_MISSING_DOMAINS:
                    raise
                print(f"Skipping domain {domain.name}: {e}")
                continue
            if cfg.VERBOSE:
                for line in report.lines():
                    print(line)
            for split, lst in items.items():
                splits[split].extend(lst)
            self.reports.append(report)
            self.domain_names.append(domain.name)
            self.domain_classnames.append(names)
            offset += len(names)
        if not self.domain_names:
            raise FDRDDataError("No domain could be loaded (see the messages above).")
        super().__init__(train_x=splits["train"], val=splits["val"] or None, test=splits["test"])


def _check_needed(domain: Domain, files: dict[str, str], where: str, eval_only: bool) -> str | None:
    needed = ["test"] if eval_only else ["train", "test"]
    missing = [s for s in needed if s not in files]
    if not missing:
        return None
    return (
        f"{domain.name}: no {' or '.join(missing)} caption file in {where} (expected {expected_files(domain)}). "
        "Fetch the released files (python -m datasets.fdrd download --root $DATA), set DATASET.FDRD.EVAL_ONLY True "
        "to evaluate a domain that has only a test file, or set DATASET.FDRD.SKIP_MISSING_DOMAINS True to skip it."
    )


@DATASET_REGISTRY.register()
class FDRD(CaptionDataset):
    """FDRD domains named by ``DATASET.FDRD.DOMAINS`` (``all`` = the nine)."""

    dataset_dir = "fdrd"

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        c = cfg.DATASET.FDRD
        caption_dir = os.path.abspath(os.path.expanduser(c.CAPTION_DIR or os.path.join(root, self.dataset_dir)))
        found = find_caption_files(caption_dir)
        custom = ()
        if c.CUSTOM_NAME:
            custom = (custom_domain(c.CUSTOM_NAME, c.CUSTOM_IMAGE_DIR),)
            found.update({(c.CUSTOM_NAME, s): f for s, f in (("train", c.CUSTOM_TRAIN_FILE), ("test", c.CUSTOM_TEST_FILE)) if f})
        names = [d.name for d in DOMAINS] if [n.lower() for n in c.DOMAINS] == ["all"] else list(c.DOMAINS)
        selected = []
        for name in names:
            domain = find_domain(name, custom)
            files = {s: found[(domain.name, s)] for s in ("train", "test") if (domain.name, s) in found}
            problem = _check_needed(domain, files, caption_dir, c.EVAL_ONLY)
            if problem:
                if not c.SKIP_MISSING_DOMAINS:
                    raise FDRDDataError(problem)
                print(f"Skipping domain: {problem}")
                continue
            selected.append((domain, files))
        return selected, os.path.join(caption_dir, "split_fewshot")
