"""One FDRD domain from its caption files and images: classes, image paths, train/val/test
items with negatives, few-shot subsets, and a report of everything counted or skipped."""
from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from PIL import Image

from engine import Datum

from ..negatives import AttributeMode, AttributeVocabulary, ClassForm, Negatives, build_negatives, item_rng, same_meaning
from ..text import CONTEXT_LENGTH, encode
from .captions import CaptionFile, FDRDFormatError, read_caption_file
from .domains import PLACEHOLDER, Domain, EntryError, normalize_class
from .fewshot import content_hash, fewshot_keys
from .splits import SplitIndex, read_split_index

EXAMPLES = 5
PROBLEM_NAMES = {"bad_entries": ("bad entries", "bad entry"), "missing_images": ("missing images", "missing image"),
                 "unreadable_images": ("unreadable images", "unreadable image")}  # DomainReport.problems' kinds


class FDRDDataError(ValueError):
    """Data that cannot be used; the message names the file or domain and the fix."""


class FDRDDatum(Datum):
    """A Datum with its caption, negatives (attribute swaps with the kind of word changed), source
    key and controlled twins (other keys of the domain and the factor in which each differs, for
    per-factor accuracy; synthetic data has them): an ``evaluation.items.RetrievalItem``. Dassl's
    loaders see a plain Datum."""

    def __init__(self, impath: str, label: int, domain: int, classname: str, caption: str,
                 negatives_category: tuple[str, ...] = (), negatives_attribute: tuple[str, ...] = (),
                 key: str = "", domain_name: str = "", negatives_attribute_kinds: tuple[str, ...] = (),
                 twins: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(impath=impath, label=label, domain=domain, classname=classname)
        self._caption = caption
        self._negatives_category = tuple(negatives_category)
        self._negatives_attribute = tuple(negatives_attribute)
        self._negatives_attribute_kinds = tuple(negatives_attribute_kinds)
        self._key = key
        self._domain_name = domain_name
        self._twins = tuple(twins)

    @property
    def caption(self) -> str:
        return self._caption

    @property
    def captions(self) -> tuple[str, ...]:
        return (self._caption,)

    @property
    def negatives_category(self) -> tuple[str, ...]:
        return self._negatives_category

    @property
    def negatives_attribute(self) -> tuple[str, ...]:
        return self._negatives_attribute

    @property
    def negatives_attribute_kinds(self) -> tuple[str, ...]:
        return self._negatives_attribute_kinds

    @property
    def twins(self) -> tuple[tuple[str, str], ...]:
        return self._twins

    @property
    def key(self) -> str:
        return self._key

    @property
    def domain_name(self) -> str:
        return self._domain_name


@dataclass
class LoadOptions:
    seed: int = 1
    shots: int = -1
    num_category: int = 4
    num_attribute: int = 1
    skip_bad_images: bool = False
    skip_bad_entries: bool = False
    check_images: bool = True
    eval_only: bool = False
    holdout_test: float = 0.0
    cache_dir: str = ""
    attribute_swaps: str = "lexicon"  # lexicon | domain (datasets/negatives.py)
    attribute_words: int = 1  # domain mode: words changed per attribute negative
    attribute_extra: tuple[str, ...] = ()  # domain mode: more lexicon words, "kind:word"
    captions_only: bool = False  # count what the caption files tell without looking at images (no items)
    eval_negatives: str = "standard"  # standard: val/test negatives from STANDARD_EVAL_NEGATIVES | training: the keys above


# The negatives of the val and test splits with ``eval_negatives == "standard"`` (DATASET.FDRD.EVAL_NEGATIVES):
# the lexicon generator with 4 category and 1 attribute negatives, item seed 0 -- the same captions for every
# run, seed and method, whatever generator the run trains with (docs/method.md, "Evaluation").
STANDARD_EVAL_NEGATIVES = {"seed": 0, "num_category": 4, "num_attribute": 1, "attribute_swaps": "lexicon",
                           "attribute_words": 1}
EVAL_NEGATIVES = ("standard", "training")


@dataclass
class NegativeCounts:
    """What the negative generator made for one split: attribute negatives by kind, how many
    swapped in a near-synonym of the word they replaced (a true description, not a negative), a
    word the domain's captions never use, or fell back to a same-class sentence swap."""

    items: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    synonym: int = 0
    out_of_domain: int = 0
    fallback: int = 0
    without_attribute_negative: int = 0

    def add(self, negs: Negatives, vocab: AttributeVocabulary) -> None:
        self.items += 1
        self.without_attribute_negative += not negs.attribute
        for kind, (old, new) in zip(negs.attribute_kinds, negs.attribute_edits):
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            self.fallback += kind == "sentence"
            self.synonym += bool(old) and same_meaning(old, new)
            self.out_of_domain += bool(new) and new not in vocab.used

    def summary(self) -> dict:
        n = sum(self.by_kind.values())
        return {"items": self.items, "attribute_negatives_by_kind": dict(sorted(self.by_kind.items())),
                "synonym_rate": self.synonym / n if n else 0.0, "out_of_domain_rate": self.out_of_domain / n if n else 0.0,
                "fallback_rate": self.fallback / self.items if self.items else 0.0,
                "without_attribute_negative": self.without_attribute_negative}

    def line(self) -> str:
        return self.text(self.summary())

    @staticmethod
    def text(s: dict) -> str:
        """One line from :meth:`summary`."""
        kinds = ", ".join(f"{k} {v:,}" for k, v in s["attribute_negatives_by_kind"].items()) or "none"
        return (f"attribute negatives by kind: {kinds}; synonym rate {100 * s['synonym_rate']:.1f}%, "
                f"out-of-domain rate {100 * s['out_of_domain_rate']:.1f}%, fallback rate {100 * s['fallback_rate']:.1f}%, "
                f"items without one {s['without_attribute_negative']:,}")


@dataclass
class DomainReport:
    domain: str
    files: dict[str, str] = field(default_factory=dict)
    classes: int = 0
    entries: dict[str, int] = field(default_factory=dict)
    pairs: dict[str, int] = field(default_factory=dict)
    with_released_negatives: int = 0
    released_negatives_dropped: int = 0
    missing_images: list[str] = field(default_factory=list)
    unreadable_images: list[str] = field(default_factory=list)
    skipped_images: int = 0
    bad_entries: list[str] = field(default_factory=list)
    duplicate_keys: int = 0
    duplicate_captions: int = 0
    overlength: int = 0
    no_class_name: int = 0
    class_mismatch: list[str] = field(default_factory=list)
    not_in_split: int = 0
    train_in_test_split: int = 0
    split_source: str = ""
    split_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    negatives: dict[str, NegativeCounts] = field(default_factory=dict)  # per split

    def lines(self) -> list[str]:
        """What was counted, skipped or dropped, for the log."""
        out = [f"[{self.domain}] files: " + ", ".join(f"{s}={p}" for s, p in self.files.items())]
        out.append(f"[{self.domain}] labels and class names from: {self.split_source}")
        out.append(f"[{self.domain}] {self.classes} classes; entries " + ", ".join(f"{s} {n:,}" for s, n in self.entries.items())
                   + "; pairs used " + ", ".join(f"{s} {n:,}" for s, n in self.pairs.items()))
        counted = [
            ("entries with released negatives", self.with_released_negatives),
            ("released negatives dropped (equal to the positive, repeated, or naming the true class)",
             self.released_negatives_dropped),
            ("captions with no findable class name (attribute negatives only)", self.no_class_name),
            ("duplicate keys (last occurrence kept)", self.duplicate_keys),
            ("exact duplicate captions (kept; see the retrieval evaluator)", self.duplicate_captions),
            (f"captions over {CONTEXT_LENGTH} tokens (truncated, end-of-text kept)", self.overlength),
            ("entries not in the split file", self.not_in_split),
            ("train-file entries in CoOp's test split (excluded)", self.train_in_test_split),
            ("class names differing from the split file (split file wins)", len(self.class_mismatch)),
        ]
        out += [f"[{self.domain}] {what}: {n:,}" for what, n in counted if n]
        out += [f"[{self.domain}] {split} {c.line()}" for split, c in self.negatives.items()]
        out += [f"[{self.domain}] {note}" for note in self.notes]
        if self.class_mismatch:
            out.append(f"[{self.domain}] e.g. " + "; ".join(self.class_mismatch[:EXAMPLES]))
        return out

    def problems(self) -> dict[str, list[str]]:
        """Every bad entry (its file, key and fault) and bad image (its path), by kind; empty kinds left out."""
        kinds = {"bad_entries": self.bad_entries, "missing_images": self.missing_images,
                 "unreadable_images": self.unreadable_images}
        return {kind: list(names) for kind, names in kinds.items() if names}

    def problem_lines(self, limit: int | None = None) -> list[str]:
        """The skips counted and each one named (the first ``limit`` of each kind; all without one),
        for the log whatever ``VERBOSE`` says: nothing is dropped unnamed."""
        out = []
        for kind, names in self.problems().items():
            many, one = PROBLEM_NAMES[kind]
            out.append(f"[{self.domain}] {many} skipped: {len(names):,}")
            out += [f"[{self.domain}]   {one}: {name}" for name in names[:limit]]
            if limit is not None and len(names) > limit:
                out.append(f"[{self.domain}]   ... and {len(names) - limit:,} more")
        if self.skipped_images:
            out.append(f"[{self.domain}] items skipped for bad images: {self.skipped_images:,}")
        return out


@dataclass
class _Row:
    key: str
    path: str  # relative to the domain folder
    label: int
    classname: str
    split: str  # train / val / test
    caption: str
    released: tuple[str, ...]
    twins: tuple[tuple[str, str], ...] = ()


def image_path_in_domain(domain: Domain, key: str, fields: dict, index: SplitIndex | None) -> tuple[str, bool]:
    """(path relative to the domain folder, whether the split index knows it)."""
    candidates = [os.path.normpath(os.path.join(domain.image_dir, domain.image_relpath(key, fields)))]
    fp = fields.get("file_path")
    marker = f"/{domain.folder}/"
    if fp and fp != PLACEHOLDER and marker in fp.replace("\\", "/"):
        candidates.append(os.path.normpath(fp.replace("\\", "/").split(marker, 1)[1]))
    if index is not None:
        for c in candidates:
            hit = index.lookup(c)
            if hit is not None:
                return hit, True
    return candidates[0], False


def _read_files(files: dict[str, str], opts: LoadOptions, report: DomainReport) -> dict[str, CaptionFile]:
    parsed = {}
    for split, path in files.items():
        try:
            cf = read_caption_file(path, opts.skip_bad_entries)
        except FileNotFoundError:
            raise FDRDDataError(f"{path}: caption file not found") from None
        parsed[split] = cf
        report.entries[split] = len(cf.entries)
        report.duplicate_keys += len(cf.duplicate_keys)
        report.duplicate_captions += cf.duplicate_captions
        report.bad_entries += cf.bad_entries
        report.with_released_negatives += sum(bool(e.negatives) for e in cf.entries)
    return parsed


def _class_table(domain: Domain, parsed: dict[str, CaptionFile], index: SplitIndex | None,
                 opts: LoadOptions, report: DomainReport) -> tuple[dict[str, tuple[int, str]], dict[tuple[str, str], str]]:
    """Normalised class -> (label, class name), and each entry's raw class."""
    raw: dict[tuple[str, str], str] = {}
    for split, cf in parsed.items():
        for e in cf.entries:
            try:
                raw[(split, e.key)] = e.fields.get("class_name") or domain.class_from_key(e.key)
            except EntryError as err:
                msg = f'{cf.path}: entry "{e.key}": {err}. Add a "class_name" field to the entry.'
                if not opts.skip_bad_entries:
                    raise FDRDFormatError(msg) from None
                report.bad_entries.append(msg)
    if index is not None:
        table = {normalize_class(name): (label, name) for label, name in index.classes().items()}
        report.split_source = ", ".join(index.files)
        report.split_files = list(index.files)
    else:
        first: dict[str, str] = {}
        for name in raw.values():
            first.setdefault(normalize_class(name), name)
        table = {norm: (label, first[norm]) for label, norm in enumerate(sorted(first))}
        report.split_source = "the caption files (labels = sorted normalised class names)"
    return table, raw


def _rows(domain: Domain, parsed: dict[str, CaptionFile], root: str, opts: LoadOptions, report: DomainReport) -> list[_Row]:
    index = read_split_index(root, domain)
    table, raw = _class_table(domain, parsed, index, opts, report)
    rows = []
    for split, cf in parsed.items():
        for e in cf.entries:
            if (split, e.key) not in raw:
                continue
            try:
                path, known = image_path_in_domain(domain, e.key, e.fields, index)
            except EntryError as err:
                msg = f'{cf.path}: entry "{e.key}": {err}'
                if not opts.skip_bad_entries:
                    raise FDRDFormatError(msg + ". Fix the key/file_name or remove the entry.") from None
                report.bad_entries.append(msg)
                continue
            norm = normalize_class(raw[(split, e.key)])
            role = split
            if index is not None and known:
                label, classname, coop_split = index.entries[path]
                if normalize_class(classname) != norm:
                    report.class_mismatch.append(f"{e.key}: {raw[(split, e.key)]!r} vs {classname!r}")
                if split == "train":
                    role = coop_split
            else:
                report.not_in_split += index is not None
                if norm not in table:
                    msg = f'{cf.path}: entry "{e.key}": class "{raw[(split, e.key)]}" is not a class of {domain.name}'
                    if not opts.skip_bad_entries:
                        raise FDRDFormatError(msg + f" (known: {', '.join(sorted(table))[:300]}...)")
                    report.bad_entries.append(msg)
                    continue
                label, classname = table[norm]
            if role == "test" and split == "train":
                report.train_in_test_split += 1
                continue
            twins = e.fields.get("twins")
            twins = tuple((str(k), str(f)) for k, f in twins.items()) if isinstance(twins, dict) else ()
            rows.append(_Row(e.key, path, label, classname, role, e.positive, e.negatives, twins))
    if "test" not in parsed and opts.holdout_test > 0:
        n = _hold_out(rows, ("train", "val"), "test", opts.holdout_test, f"fdrd-test|{domain.name}")
        report.notes.append(f"no test file: {n:,} train-file items ({opts.holdout_test:.0%} of each class) held out "
                            "as the test split (DATASET.FDRD.HOLDOUT_TEST; the same for every seed)")
    if index is None and "train" in parsed and "val" not in parsed:
        _hold_out(rows, ("train",), "val", 0.2, f"fdrd-val|{domain.name}")
    report.classes = len(table)
    return rows


def _hold_out(rows: list[_Row], sources: tuple[str, ...], target: str, share: float, salt: str) -> int:
    """Move ``share`` of each class's rows in the ``sources`` splits to ``target`` (classes with
    at least two rows; fixed by ``salt``, not by the run's seed). Returns how many moved."""
    rng = random.Random(salt)
    by_label: dict[int, list[_Row]] = {}
    for r in sorted((r for r in rows if r.split in sources), key=lambda r: r.key):
        by_label.setdefault(r.label, []).append(r)
    moved = 0
    for group in by_label.values():
        n = round(len(group) * share) if len(group) >= 2 else 0
        for r in rng.sample(group, n):
            r.split = target
        moved += n
    return moved


def _check_images(rows: list[_Row], folder: str, opts: LoadOptions, report: DomainReport, domain: Domain) -> list[_Row]:
    missing = [r for r in rows if not os.path.isfile(os.path.join(folder, r.path))]
    report.missing_images = [os.path.join(folder, r.path) for r in missing]
    bad = set(id(r) for r in missing)
    if missing and not opts.skip_bad_images:
        raise FDRDDataError(
            f"{domain.name}: {len(missing):,} of {len(rows):,} images are missing under {folder}, e.g. "
            + ", ".join(report.missing_images[:EXAMPLES])
            + f". Put the {domain.name} images in CoOp's layout (docs/data.md) or set "
            "DATASET.FDRD.SKIP_BAD_IMAGES True to skip them (the count is logged)."
        )
    return [r for r in rows if id(r) not in bad]


def decodes(path: str) -> bool:
    """Whether the whole image decodes (a truncated file with an intact header does not). JPEGs
    are decoded at reduced scale, which still reads every byte of the compressed data."""
    try:
        with Image.open(path) as img:
            if img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
        return True
    except Exception:
        return False


def _unreadable(paths: list[str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return [p for p, ok in zip(paths, pool.map(decodes, paths)) if not ok]


def _verify_readable(items: list[FDRDDatum], opts: LoadOptions, report: DomainReport, domain: Domain) -> set[str]:
    if not opts.check_images:
        return set()
    report.unreadable_images = _unreadable(sorted({d.impath for d in items}))
    if report.unreadable_images and not opts.skip_bad_images:
        raise FDRDDataError(
            f"{domain.name}: {len(report.unreadable_images):,} images cannot be read as images, e.g. "
            + ", ".join(report.unreadable_images[:EXAMPLES])
            + ". Replace them, or set DATASET.FDRD.SKIP_BAD_IMAGES True to skip them "
            "(DATASET.FDRD.CHECK_IMAGES False turns this check off)."
        )
    return set(report.unreadable_images)


def load_domain(domain: Domain, domain_index: int, label_offset: int, files: dict[str, str], root: str,
                opts: LoadOptions) -> tuple[dict[str, list[FDRDDatum]], list[str], DomainReport]:
    """Items per split ("train", "val", "test"), class names by label, and the report."""
    report = DomainReport(domain.name, dict(files))
    parsed = _read_files(files, opts, report)
    domain_root = os.path.join(root, domain.folder)
    rows = _rows(domain, parsed, domain_root, opts, report)
    before = len(rows)
    if not opts.captions_only:
        rows = _check_images(rows, domain_root, opts, report, domain)
    classnames = {r.label: r.classname for r in rows}
    forms = {label: ClassForm(normalize_class(name), name) for label, name in classnames.items()}
    text = [r for r in rows if r.split == "train"] or rows  # the words the domain uses: its training captions
    vocab = AttributeVocabulary.mine([r.caption for r in text], opts.attribute_extra)
    same_class: dict[int, list[str]] = {}
    for r in text:
        same_class.setdefault(r.label, []).append(r.caption)
    held_out = replace(opts, **STANDARD_EVAL_NEGATIVES) if opts.eval_negatives == "standard" else opts
    generators = {}  # train | held out (val, test) -> the options and attribute modes their negatives come from
    for role, o in (("train", opts), ("held out", held_out)):
        generators[role] = o, {label: AttributeMode(vocab if o.attribute_swaps == "domain" else None, o.attribute_words,
                                                    tuple(same_class.get(label, ()))) for label in forms}

    chosen = _choose(rows, domain, files, opts, report)
    items: dict[str, list[FDRDDatum]] = {"train": [], "val": [], "test": []}
    for r in rows:
        if r.split == "test" or r.key in chosen.get(r.split, ()):
            o, modes = generators["train" if r.split == "train" else "held out"]
            negs = _negatives(r, domain, forms, modes[r.label], o, report)
            report.negatives.setdefault(r.split, NegativeCounts()).add(negs, vocab)
            if not opts.captions_only:
                items[r.split].append(_datum(r, domain, domain_index, label_offset, domain_root, negs))
    unreadable = _verify_readable([d for split in items.values() for d in split], opts, report, domain)
    items = {s: [d for d in v if d.impath not in unreadable] for s, v in items.items()}
    report.skipped_images = before - len(rows) + sum(1 for r in rows if os.path.join(domain_root, r.path) in unreadable)
    report.overlength = sum(len(encode(r.caption)) > CONTEXT_LENGTH - 2 for r in rows)
    if opts.eval_only and "train" not in files:
        items["train"] = list(items["test"])
        report.notes.append("no train file: evaluation only (train_x mirrors test for class information)")
    report.pairs = {s: len(v) for s, v in items.items()}
    names = [classnames.get(label, "") for label in range(max(classnames, default=-1) + 1)]
    return items, names, report


def _choose(rows: list[_Row], domain: Domain, files: dict[str, str], opts: LoadOptions,
            report: DomainReport) -> dict[str, set[str]]:
    """Keys of the train/val items used: all, or the seeded few-shot subsets. A val file is a
    gallery of its own and is used whole; a val split held out of the train file is sampled with
    the shots (``min(shots, 4)`` per class, as CoOp)."""
    train = [(r.key, r.label) for r in rows if r.split == "train"]
    val = [(r.key, r.label) for r in rows if r.split == "val"]
    whole_val = "val" in files
    if opts.shots < 1 or not train:
        return {"train": {k for k, _ in train}, "val": {k for k, _ in val}}
    cache = None
    if opts.seed >= 0 and opts.cache_dir:
        sources = [files["train"], *report.split_files]
        pool = f"-holdout_{opts.holdout_test:g}" if opts.holdout_test and "test" not in files else ""  # another train pool
        pool += "-valfile" if whole_val else ""  # nothing held out of the train file
        name = f"{domain.name}_shot_{opts.shots}-seed_{opts.seed}{pool}-{content_hash(sources)}.json"
        cache = os.path.join(opts.cache_dir, name)
    seed = opts.seed if opts.seed >= 0 else random.randrange(2**31)
    train_keys, val_keys, note = fewshot_keys(_unzip(train), _unzip([] if whole_val else val), opts.shots, seed, cache)
    print(f"[{domain.name}] {note}")
    return {"train": set(train_keys), "val": {k for k, _ in val} if whole_val else set(val_keys)}


def _unzip(pairs: list[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [k for k, _ in pairs], [y for _, y in pairs]


def _negatives(r: _Row, domain: Domain, forms: dict[int, ClassForm], mode: AttributeMode, opts: LoadOptions,
               report: DomainReport) -> Negatives:
    others = [f for label, f in sorted(forms.items()) if label != r.label]
    negs = build_negatives(r.caption, r.released, forms[r.label], others, opts.num_category, opts.num_attribute,
                           item_rng(opts.seed, domain.name, r.key), mode)
    report.released_negatives_dropped += negs.released_dropped
    report.no_class_name += not negs.class_found
    return negs


def _datum(r: _Row, domain: Domain, domain_index: int, label_offset: int, domain_root: str,
           negs: Negatives) -> FDRDDatum:
    return FDRDDatum(os.path.join(domain_root, r.path), r.label + label_offset, domain_index, r.classname, r.caption,
                     negs.category, negs.attribute, r.key, domain.name, negs.attribute_kinds, r.twins)
