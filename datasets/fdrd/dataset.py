"""The ``FDRD`` dataset: any subset of the nine domains (and a custom one) from the released
caption files and CoOp's image layout under ``DATASET.ROOT`` (docs/fdrd.md)."""
from __future__ import annotations

import os
from typing import Any

from yacs.config import CfgNode as CN

from engine import DATASET_REGISTRY, DatasetBase

from .captions import FDRDFormatError, expected_files, find_caption_files
from .domains import DOMAINS, Domain, custom_domain, find_domain
from .loader import EVAL_NEGATIVES, FDRDDataError, LoadOptions, load_domain
from .splits import SplitFileError


def extend_cfg(cfg: Any) -> None:
    """``DATASET.FDRD.*`` keys (shared by FDRD and FDRDSynth)."""
    c = CN()
    c.CAPTION_DIR = ""  # default: $DATA/fdrd
    c.DOMAINS = ("all",)  # names from the results table (or aliases), or "all" (= every domain present)
    c.SKIP_MISSING_DOMAINS = False  # skip (and log) named domains whose files are missing or unreadable
    c.NUM_CATEGORY_NEGATIVES = 4  # K_c, docs/method.md
    c.NUM_ATTRIBUTE_NEGATIVES = 1  # K_a
    c.ATTRIBUTE_SWAPS = "lexicon"  # lexicon | domain: the attribute-swap generator (docs/method.md, "Negative captions")
    c.ATTRIBUTE_WORDS = 1  # domain generator: attribute words changed per negative
    c.ATTRIBUTE_LEXICON_EXTRA = ()  # domain generator: more attribute words, as "kind:word" ("colour:teal")
    c.EVAL_NEGATIVES = "standard"  # val/test negatives: standard (one set for all runs) | training (the keys above, run's seed)
    c.SKIP_BAD_IMAGES = False  # skip missing/unreadable images (counted) instead of failing
    c.SKIP_BAD_ENTRIES = False  # skip malformed entries (counted) instead of failing
    c.CHECK_IMAGES = True  # decode every used image at load time (a bad image fails before training)
    c.EVAL_ONLY = False  # a domain without a train file can still be evaluated
    c.HOLDOUT_TEST = 0.0  # a domain with a train file but no test file: this share of each class becomes its test split
    c.CACHE_DIR = ""  # few-shot cache; default: <caption dir>/split_fewshot
    c.CUSTOM_NAME = ""  # your own domain: its name (add it to DOMAINS) ...
    c.CUSTOM_IMAGE_DIR = ""  # ... the folder its image paths are relative to ...
    c.CUSTOM_TRAIN_FILE = ""  # ... and its caption files in FDRD's schema
    c.CUSTOM_TEST_FILE = ""
    cfg.DATASET.FDRD = c


def load_options(cfg: Any, cache_dir: str) -> LoadOptions:
    c = cfg.DATASET.FDRD
    if not 0.0 <= c.HOLDOUT_TEST < 1.0:
        raise ValueError(f"DATASET.FDRD.HOLDOUT_TEST must be in [0, 1), got {c.HOLDOUT_TEST}")
    if c.ATTRIBUTE_SWAPS not in ("lexicon", "domain"):
        raise ValueError(f"DATASET.FDRD.ATTRIBUTE_SWAPS must be lexicon or domain, got {c.ATTRIBUTE_SWAPS!r}")
    if c.EVAL_NEGATIVES == "fixed":
        raise ValueError("DATASET.FDRD.EVAL_NEGATIVES 'fixed' named the evaluation negatives made before near-synonyms "
                         "were excluded (issue 42); that set is no longer made. Use 'standard' (the default: the same "
                         "set without synonym swaps) and evaluate the run again")
    if c.EVAL_NEGATIVES not in EVAL_NEGATIVES:
        raise ValueError(f"DATASET.FDRD.EVAL_NEGATIVES must be one of {EVAL_NEGATIVES}, got {c.EVAL_NEGATIVES!r}")
    if c.ATTRIBUTE_WORDS < 1:
        raise ValueError(f"DATASET.FDRD.ATTRIBUTE_WORDS must be at least 1, got {c.ATTRIBUTE_WORDS}")
    if cfg.DATASET.NUM_SHOTS < -1:
        raise ValueError(f"DATASET.NUM_SHOTS must be a number of images per class (1, 2, 4, 8, 16 ...) or -1 for all "
                         f"of them, got {cfg.DATASET.NUM_SHOTS}")
    return LoadOptions(
        seed=cfg.SEED, shots=cfg.DATASET.NUM_SHOTS, num_category=c.NUM_CATEGORY_NEGATIVES,
        num_attribute=c.NUM_ATTRIBUTE_NEGATIVES, skip_bad_images=c.SKIP_BAD_IMAGES,
        skip_bad_entries=c.SKIP_BAD_ENTRIES, check_images=c.CHECK_IMAGES, eval_only=c.EVAL_ONLY,
        holdout_test=c.HOLDOUT_TEST, cache_dir=c.CACHE_DIR or cache_dir, attribute_swaps=c.ATTRIBUTE_SWAPS,
        attribute_words=c.ATTRIBUTE_WORDS, attribute_extra=tuple(c.ATTRIBUTE_LEXICON_EXTRA),
        eval_negatives=c.EVAL_NEGATIVES,
    )


class CaptionDataset(DatasetBase):
    """Loads the domains that :meth:`sources` names, one after the other, with global labels.

    ``skipped`` maps each domain left out to the reason; ``not_evaluated`` each domain that trains
    but has no test split (a train file only); ``problems`` each domain's skipped bad entries and
    images, named (:meth:`DomainReport.problems`)."""

    skipped: dict[str, str]

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        raise NotImplementedError

    def __init__(self, cfg: Any) -> None:
        root = os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT))
        self.skipped = {}
        self.problems: dict[str, dict[str, list[str]]] = {}
        selected, cache_dir = self.sources(cfg, root)
        opts = load_options(cfg, cache_dir)
        splits: dict[str, list] = {"train": [], "val": [], "test": []}
        self.reports, self.domain_names, self.domain_classnames = [], [], []
        self.not_evaluated: dict[str, str] = {}
        offset = 0
        for domain, files in selected:
            try:
                items, names, report = load_domain(domain, len(self.domain_names), offset, files, root, opts)
            except (FDRDFormatError, FDRDDataError, SplitFileError) as e:
                if not cfg.DATASET.FDRD.SKIP_MISSING_DOMAINS:
                    raise
                print(f"Skipping domain {domain.name}: {e}")
                self.skipped[domain.name] = str(e)
                continue
            for line in (report.lines() if cfg.VERBOSE else []) + report.problem_lines():
                print(line)
            if report.problems():
                self.problems[domain.name] = report.problems()
            for split, lst in items.items():
                splits[split].extend(lst)
            if not items["test"]:
                self.not_evaluated[domain.name] = "a train file only: trained, not evaluated"
            self.reports.append(report)
            self.domain_names.append(domain.name)
            self.domain_classnames.append(names)
            offset += len(names)
        if not self.domain_names:
            raise FDRDDataError("No domain could be loaded (see the messages above).")
        if not splits["test"] and not cfg.TEST.NO_TEST:
            raise FDRDDataError(f"{', '.join(self.domain_names)}: no test split to evaluate on. {TRAIN_ONLY_FIX}")
        for name, why in {**self.skipped, **self.not_evaluated}.items():
            print(f"Domain {name}: {why}")
        super().__init__(train_x=splits["train"], val=splits["val"] or None, test=splits["test"])


TRAIN_ONLY_FIX = ("Set DATASET.FDRD.HOLDOUT_TEST (e.g. 0.2) to evaluate on a held-out part of each class of the "
                  "train file, or train with TEST.NO_TEST True and evaluate the saved model on another domain "
                  "(scripts/common/eval.sh).")


def _unusable(domain: Domain, files: dict[str, str], where: str, c: Any, no_test: bool) -> str | None:
    """Why ``domain`` cannot be used with these files and settings (None: it can)."""
    expected = f"in {where} (expected {expected_files(domain)})"
    if not files:
        return f"not present: no caption file {expected}"
    if "test" not in files and (c.EVAL_ONLY or not (c.HOLDOUT_TEST > 0 or no_test)):
        if c.EVAL_ONLY:
            return f"a train file only, no test file {expected} to evaluate on"
        return f"a train file only, no test file {expected}. {TRAIN_ONLY_FIX}"
    if "train" not in files and not c.EVAL_ONLY:
        return (f"a test file only, no train file {expected}: set DATASET.FDRD.EVAL_ONLY True to evaluate it "
                "(zero-shot, or a model trained elsewhere)")
    return None


@DATASET_REGISTRY.register()
class FDRD(CaptionDataset):
    """FDRD domains named by ``DATASET.FDRD.DOMAINS``; ``all`` = every domain whose files are
    present (the others are listed as skipped, with the reason)."""

    dataset_dir = "fdrd"

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        c = cfg.DATASET.FDRD
        caption_dir = os.path.abspath(os.path.expanduser(c.CAPTION_DIR or os.path.join(root, self.dataset_dir)))
        found = find_caption_files(caption_dir)
        custom = ()
        if c.CUSTOM_NAME:
            custom = (custom_domain(c.CUSTOM_NAME, c.CUSTOM_IMAGE_DIR),)
            found.update({(c.CUSTOM_NAME, s): f for s, f in (("train", c.CUSTOM_TRAIN_FILE), ("test", c.CUSTOM_TEST_FILE)) if f})
        every = [n.lower() for n in c.DOMAINS] == ["all"]
        names = [d.name for d in DOMAINS] if every else list(c.DOMAINS)
        selected = []
        for name in names:
            domain = find_domain(name, custom)
            files = {s: found[(domain.name, s)] for s in ("train", "test") if (domain.name, s) in found}
            problem = _unusable(domain, files, caption_dir, c, cfg.TEST.NO_TEST)
            if problem:
                if not (every or c.SKIP_MISSING_DOMAINS):
                    raise FDRDDataError(f"{domain.name}: {problem}" + (
                        "" if every else " (DATASET.FDRD.SKIP_MISSING_DOMAINS True skips it)"))
                self.skipped[domain.name] = problem
                continue
            selected.append((domain, files))
        return selected, os.path.join(caption_dir, "split_fewshot")
