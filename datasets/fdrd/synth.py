"""FDRDSynth: a deterministic synthetic domain set in FDRD's own format (the embedded default data).

The world (meta-categories, subcategories, attributes, rendering, vocabularies) is
:mod:`datasets.fdrd.synth_world`. Each domain has ``CLASSES_PER_DOMAIN`` subcategories named by
pseudo-words. Captions follow FDRD's style -- "This is a photo of <class>.<description>" -- and
state the five attributes in one fixed phrase each, inside longer sentences with ungrounded
filler; they never describe the subcategory's cues, so the name carries the subcategory, as in
real FDRD.

* **Train** files (schema C): ``TRAIN_PER_CLASS`` images per class with random attributes (the
  few-shot pool).
* **Val** files (``VAL_IMAGES_PER_DOMAIN`` > 0): a gallery of its own, shaped like test (below)
  and drawn from its own random stream, so val is as hard as test, shares no image with train or
  test, and a smaller val is the start of a larger one. With 0 there is no val file and the
  loader holds 20% of each class of the train file out as val.
* **Test** files (schema A, four released-style category negatives drawn uniformly with
  replacement, as the authors did): at least ``TEST_IMAGES_PER_DOMAIN`` images in groups of
  three **controlled twins** -- a base image, a twin of a sibling subcategory with the same
  attributes, and a twin that differs from the base in one attribute (the attribute cycles) --
  whose captions differ only in that factor's words. Entries carry their ground truth
  (``factors``) and their twins (``twins``: key -> the factor in which they differ), so
  per-factor accuracy and oracle retrievers can be computed.

Everything is read back through the FDRD loader.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from tqdm import tqdm
from yacs.config import CfgNode as CN

from engine import DATASET_REGISTRY

from .dataset import CaptionDataset
from .domains import Domain, _before_last_underscore, _split_image, stem_of
from .synth_folder import MANIFEST, SynthFolderError, ensure
from .synth_world import (
    FACTOR,
    FACTORS,
    FILLER,
    INKS,
    KINDS,
    MARKS,
    Subcategory,
    draw_attributes,
    render,
    siblings,
    subcategories,
)

GENERATOR_VERSION = 6  # bump whenever the generated files change for the same settings
TEMPLATES = (
    "A {size} {colour} {noun} {pattern} is shown {position} {background}.",
    "{Background}, a {size} {colour} {noun} {pattern} appears {position}.",
    "The image shows a {size} {noun} in {colour} {pattern}, placed {position} {background}.",
)
GROUP = 3  # images per test group: base, sibling-subcategory twin, attribute twin


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.DIR = "fdrd_synth"  # FDRDSynth's own folder under DATASET.ROOT (one sub-folder per setting; never deleted)
    c.NUM_DOMAINS = 3
    c.CLASSES_PER_DOMAIN = 16
    c.TRAIN_PER_CLASS = 25  # train-file images per class (the few-shot pool)
    c.TEST_IMAGES_PER_DOMAIN = 1000  # test gallery size per domain (rounded up to whole twin groups)
    c.VAL_IMAGES_PER_DOMAIN = 0  # >0: a val gallery of its own, shaped like test; 0: 20% of the train file
    c.IMAGE_SIZE = 64
    c.SEED = 0  # the generator seed: another value draws a fresh data set
    cfg.DATASET.FDRD_SYNTH = c


@dataclass(frozen=True)
class SynthSpec:
    num_domains: int = 3
    classes_per_domain: int = 16
    train_per_class: int = 25
    test_images_per_domain: int = 1000
    image_size: int = 64
    seed: int = 0
    val_images_per_domain: int = 0

    @classmethod
    def from_cfg(cls, c: Any) -> "SynthSpec":
        return cls(c.NUM_DOMAINS, c.CLASSES_PER_DOMAIN, c.TRAIN_PER_CLASS, c.TEST_IMAGES_PER_DOMAIN, c.IMAGE_SIZE, c.SEED,
                   c.VAL_IMAGES_PER_DOMAIN)

    def check(self) -> None:
        key = "DATASET.FDRD_SYNTH"
        if not 1 <= self.num_domains <= len(KINDS):
            raise ValueError(f"{key}.NUM_DOMAINS must be 1..{len(KINDS)}")
        if not 2 <= self.classes_per_domain <= len(INKS) * len(MARKS):
            raise ValueError(f"{key}.CLASSES_PER_DOMAIN must be 2..{len(INKS) * len(MARKS)}")
        if not 16 <= self.image_size <= 256 or self.train_per_class < 1 or self.test_images_per_domain < GROUP:
            raise ValueError(f"{key}: IMAGE_SIZE 16..256, TRAIN_PER_CLASS >= 1 and TEST_IMAGES_PER_DOMAIN >= {GROUP}")
        if self.val_images_per_domain != 0 and self.val_images_per_domain < GROUP:
            raise ValueError(f"{key}.VAL_IMAGES_PER_DOMAIN must be 0 (val from the train file) or >= {GROUP}")

    def folder_name(self) -> str:
        """The sub-folder these settings are generated into: the seed and a hash of every setting
        and of the generator's version, so changed settings or code never reuse a folder."""
        digest = hashlib.sha256(json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True).encode())
        return f"seed{self.seed}-{digest.hexdigest()[:10]}"

    def groups(self, split: str = "test") -> int:
        images = self.val_images_per_domain if split == "val" else self.test_images_per_domain
        return math.ceil(images / GROUP)


def classes_by_kind(spec: SynthSpec) -> dict[str, list[Subcategory]]:
    """Each domain's subcategories (fixed by the world; the seed draws only the images)."""
    return {k.name: subcategories(k.name, spec.classes_per_domain) for k in KINDS[: spec.num_domains]}


def synth_domain(kind: str, folder: str) -> Domain:
    """The loader's description of one synthetic domain (images in ``<folder>/<kind>/images``,
    ``folder`` relative to the data root)."""

    def class_from_key(key: str) -> str:
        stem = os.path.splitext(key)[0]
        return _split_image(stem)[0] if "_image_" in stem else _before_last_underscore(stem)

    return Domain(f"Synth{kind.capitalize()}", (kind,), f"{folder}/{kind}", "images", None,
                  lambda k, e: f"{stem_of(k, e)}.png", class_from_key, (f"synth_{kind}",))


def describe(sub: Subcategory, attrs: dict[str, str], template: int, filler: tuple[str, ...], schema_a: bool) -> str:
    """FDRDSynth's caption of an image: class name, the five attributes in their downstream
    phrases, and ungrounded filler."""
    words = {f.name: f.downstream[attrs[f.name]] for f in FACTORS}
    noun = next(k.noun for k in KINDS if k.name == sub.kind)
    body = TEMPLATES[template].format(noun=noun, Background=words["background"].capitalize(), **words)
    text = " ".join((body, *filler))
    return f"This is a {sub.name}.{text}" if schema_a else f"This is a photo of {sub.name}.{text}"


def _style(rng: random.Random) -> tuple[int, tuple[str, ...]]:
    return rng.randrange(len(TEMPLATES)), tuple(rng.sample(FILLER, rng.choice((0, 1, 1, 2))))


def _other_value(factor: str, value: str, rng: random.Random) -> str:
    return rng.choice([v for v in FACTOR[factor].values if v != value])


def twin_groups(classes: list[Subcategory], n_groups: int, rng: random.Random):
    """Yield (group index, [(subcategory, attributes, twin role)]) for a test or val gallery: a
    base, a sibling-subcategory twin and a one-attribute twin (the attribute cycles over FACTORS)."""
    near = siblings(classes)
    for g in range(n_groups):
        base = classes[g % len(classes)]
        attrs = draw_attributes(rng)
        factor = FACTORS[g % len(FACTORS)].name
        changed = {**attrs, factor: _other_value(factor, attrs[factor], rng)}
        yield g, [(base, attrs, None), (rng.choice(near[base.name]), attrs, "subcategory"), (base, changed, factor)]


def _save(img: Any, path: str) -> None:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def _gallery(kind: str, classes: list[Subcategory], n_groups: int, rng: random.Random, counter: dict[str, int],
             spec: SynthSpec, image_dir: str, bar: Any) -> dict[str, dict]:
    """The entries of a test or val gallery (schema A, released-style category negatives, twins),
    its images written; image numbers continue ``counter`` so keys never repeat within a domain."""
    out: dict[str, dict] = {}
    for g, members in twin_groups(classes, n_groups, rng):
        style = _style(rng)
        keys = []
        for sub, attrs, _ in members:
            key = f"{sub.name.lower()}_image_{counter[sub.name]:04d}"
            counter[sub.name] += 1
            keys.append(key)
            positive = describe(sub, attrs, *style, schema_a=True)
            swaps = [rng.choice(classes).name for _ in range(4)]  # as released: uniform, with replacement
            out[key] = {"file_name": key, "class_name": sub.name, "number": key.rsplit("_", 1)[1],
                        "file_path": f"/synth/{kind}/{key}.png", "positive": positive,
                        "negative": [positive.replace(sub.name, other) for other in swaps],
                        "factors": {"subcategory": sub.name, **attrs}, "group": g}
            _save(render(sub, attrs, spec.image_size, rng), os.path.join(image_dir, f"{key}.png"))
            bar.update()
        base = keys[0]
        for key, (_, _, role) in zip(keys[1:], members[1:]):
            out[base].setdefault("twins", {})[key] = role
            out[key]["twins"] = {base: role}
    return out


def generate(out_dir: str, spec: SynthSpec, progress: bool = True) -> None:
    """Write images and caption files for ``spec`` into ``out_dir``, which must be new or empty
    (nothing is ever deleted); the manifest is written last."""
    spec.check()
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise SynthFolderError(f"{out_dir} is not empty: FDRDSynth writes only into a new or empty folder")
    by_kind = classes_by_kind(spec)
    per_domain = spec.classes_per_domain * spec.train_per_class + (spec.groups() + spec.groups("val")) * GROUP
    bar = tqdm(total=spec.num_domains * per_domain, desc="FDRDSynth images", disable=not progress)
    os.makedirs(os.path.join(out_dir, "captions"))
    for kind, classes in by_kind.items():
        rng = random.Random(f"items|{spec.seed}|{kind}")
        image_dir = os.path.join(out_dir, kind, "images")
        os.makedirs(image_dir)
        train = {}
        for sub in classes:
            for i in range(spec.train_per_class):
                attrs = draw_attributes(rng)
                key = f"{sub.name.lower()}_{i:04d}.png"
                train[key] = {"file_name": key, "class_name": sub.name, "file_path": "YOUR_IMAGE_PATH",
                              "positive": describe(sub, attrs, *_style(rng), schema_a=False), "negative": [],
                              "factors": {"subcategory": sub.name, **attrs}}
                _save(render(sub, attrs, spec.image_size, rng), os.path.join(image_dir, key))
                bar.update()
        counter = {c.name: 0 for c in classes}
        files = {f"inter_{kind}_train.json": train,
                 f"{kind}_test.json": _gallery(kind, classes, spec.groups(), rng, counter, spec, image_dir, bar)}
        if spec.val_images_per_domain:  # its own stream: the same val whatever the train and test sizes
            val_rng = random.Random(f"val|{spec.seed}|{kind}")
            files[f"{kind}_val.json"] = _gallery(kind, classes, spec.groups("val"), val_rng, counter, spec, image_dir, bar)
        for fname, data in files.items():
            with open(os.path.join(out_dir, "captions", fname), "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
    bar.close()
    with open(os.path.join(out_dir, MANIFEST), "w", encoding="utf-8") as f:
        json.dump({**asdict(spec), "version": GENERATOR_VERSION}, f, sort_keys=True)


def entries(folder: str, split: str) -> Iterator[tuple[str, str, str, dict]]:
    """(kind, key, image path, entry) of every entry of a generated folder's ``split`` caption
    files; entries carry their ground truth (``factors``)."""
    for fname in sorted(os.listdir(os.path.join(folder, "captions"))):
        if not fname.endswith(f"{split}.json"):
            continue
        kind = fname.replace("inter_", "").rsplit("_", 1)[0]
        with open(os.path.join(folder, "captions", fname), encoding="utf-8") as f:
            for key, e in json.load(f).items():
                stem = key[:-4] if key.endswith(".png") else key
                yield kind, key, os.path.join(folder, kind, "images", f"{stem}.png"), e


def write_image_list(folder: str, split: str, out: str) -> int:
    """An image list (``image,class`` CSV, paths relative to ``folder``) of a split, for the
    caption builder; returns the number of images."""
    import csv

    rows = [(os.path.relpath(path, folder), e["factors"]["subcategory"]) for _, _, path, e in entries(folder, split)]
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "class"])
        w.writerows(rows)
    return len(rows)


def ensure_generated(root: str, dir_value: str, spec: SynthSpec) -> str:
    """The folder holding ``spec``'s data (relative to ``root``), generated on first use."""
    spec.check()
    return ensure(root, dir_value, spec.folder_name(), lambda tmp: generate(tmp, spec))


@DATASET_REGISTRY.register()
class FDRDSynth(CaptionDataset):
    """The synthetic domains (``DATASET.FDRD.DOMAINS`` picks among them; ``all`` = every one)."""

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        if cfg.DATASET.FDRD.CAPTION_DIR:
            raise ValueError(f"DATASET.FDRD.CAPTION_DIR is set ({cfg.DATASET.FDRD.CAPTION_DIR}), but FDRDSynth reads the "
                             "captions it generates, never that folder: remove the setting (DATASET.FDRD_SYNTH.DIR "
                             "chooses the generated folder), or train on FDRD to use those captions")
        spec = SynthSpec.from_cfg(cfg.DATASET.FDRD_SYNTH)
        rel = ensure_generated(root, cfg.DATASET.FDRD_SYNTH.DIR, spec)
        out_dir = os.path.join(root, rel)
        domains = [synth_domain(k.name, rel) for k in KINDS[: spec.num_domains]]
        wanted = [n.lower() for n in cfg.DATASET.FDRD.DOMAINS]
        if wanted != ["all"]:
            unknown = [n for n in wanted if not any(n in d.names() for d in domains)]
            if unknown:
                raise ValueError(f"Unknown FDRDSynth domain(s) {unknown}; available: {[d.name for d in domains]}")
            domains = [d for d in domains if d.names() & set(wanted)]
        cap = os.path.join(out_dir, "captions")
        files = [(d, {"train": os.path.join(cap, f"inter_{d.tokens[0]}_train.json"),
                      "test": os.path.join(cap, f"{d.tokens[0]}_test.json"),
                      **({"val": os.path.join(cap, f"{d.tokens[0]}_val.json")} if spec.val_images_per_domain else {})})
                 for d in domains]
        return files, os.path.join(cap, "split_fewshot")
