"""FDRDSynth: a deterministic synthetic domain set in FDRD's own format (the embedded default data).

Each meta-category (domain) has fine subcategories that differ by small visual cues (number
of sides/petals/spokes x an inner mark), named by opaque pseudo-words as real fine-grained
classes are. Five attributes vary independently of the subcategory -- object colour,
background, size, position and surface pattern -- and every caption states them in FDRD's
style ("This is a photo of <class>.<description>"), so retrieval needs both the subcategory
and the attributes. Train files use schema C, test files schema A with four released
category-swap negatives drawn as the authors did (uniformly, with replacement). Everything is
read back through the FDRD loader.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image, ImageDraw
from tqdm import tqdm
from yacs.config import CfgNode as CN

from engine import DATASET_REGISTRY

from .dataset import CaptionDataset
from .domains import Domain, _before_last_underscore, _split_image, stem_of
from .synth_folder import MANIFEST, SynthFolderError, ensure

KINDS = ("emblem", "bloom", "badge")
NOUNS = {"emblem": "emblem", "bloom": "flower", "badge": "badge"}
COUNTS = (3, 4, 5, 6, 7, 8)
MARKS = ("dot", "ring", "cross", "bar")
COLOURS = {"red": (200, 40, 40), "orange": (235, 140, 30), "yellow": (230, 210, 40), "green": (50, 160, 60),
           "blue": (40, 80, 200), "purple": (130, 50, 170), "pink": (240, 130, 180), "brown": (120, 75, 40)}
BACKGROUNDS = {"white": (245, 245, 245), "black": (20, 20, 20), "gray": (128, 128, 128), "beige": (225, 205, 170)}
SIZES = {"small": 0.2, "large": 0.34}
POSITIONS = {"left": (0.3, 0.5), "right": (0.7, 0.5), "top": (0.5, 0.3), "bottom": (0.5, 0.7), "center": (0.5, 0.5)}
PATTERNS = ("smooth", "striped", "dotted")
SYLLABLES = ("ka", "lo", "mi", "ren", "tor", "vel", "sa", "qui", "dun", "bri", "fen", "zo", "ha", "pel", "mar", "tis",
             "nor", "gal", "vi", "ros", "kel", "dra", "mun", "ser")
TEMPLATES = (
    "A {size} {colour} {noun} with a {pattern} surface sits at the {where} of the image on a {background} background.",
    "The image shows a {size} {colour} {noun} on a {background} background, placed at the {where}; its surface is {pattern}.",
    "On a {background} background, a {size} {noun} in {colour} appears at the {where}, with a {pattern} texture.",
)
GENERATOR_VERSION = 1  # bump whenever the generated files change for the same settings
WHERE = {"left": "left side", "right": "right side", "top": "top", "bottom": "bottom", "center": "center"}


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.DIR = "fdrd_synth"  # FDRDSynth's own folder under DATASET.ROOT (one sub-folder per setting; never deleted)
    c.NUM_DOMAINS = 3
    c.CLASSES_PER_DOMAIN = 20
    c.TRAIN_PER_CLASS = 16
    c.TEST_PER_CLASS = 5
    c.IMAGE_SIZE = 48
    c.SEED = 0
    cfg.DATASET.FDRD_SYNTH = c


@dataclass(frozen=True)
class SynthSpec:
    num_domains: int = 3
    classes_per_domain: int = 20
    train_per_class: int = 16
    test_per_class: int = 5
    image_size: int = 48
    seed: int = 0

    @classmethod
    def from_cfg(cls, c: Any) -> "SynthSpec":
        return cls(c.NUM_DOMAINS, c.CLASSES_PER_DOMAIN, c.TRAIN_PER_CLASS, c.TEST_PER_CLASS, c.IMAGE_SIZE, c.SEED)

    def check(self) -> None:
        if not 1 <= self.num_domains <= len(KINDS):
            raise ValueError(f"DATASET.FDRD_SYNTH.NUM_DOMAINS must be 1..{len(KINDS)}")
        if not 2 <= self.classes_per_domain <= len(COUNTS) * len(MARKS):
            raise ValueError(f"DATASET.FDRD_SYNTH.CLASSES_PER_DOMAIN must be 2..{len(COUNTS) * len(MARKS)}")
        if not 16 <= self.image_size <= 256 or self.train_per_class < 1 or self.test_per_class < 1:
            raise ValueError("DATASET.FDRD_SYNTH: IMAGE_SIZE 16..256 and at least one train and test image per class")

    def folder_name(self) -> str:
        """The sub-folder these settings are generated into: the seed and a hash of every setting
        and of the generator's version, so changed settings or code never reuse a folder."""
        digest = hashlib.sha256(json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True).encode())
        return f"seed{self.seed}-{digest.hexdigest()[:10]}"


def synth_domain(kind: str, folder: str) -> Domain:
    """The loader's description of one synthetic domain (images in ``<folder>/<kind>/images``,
    ``folder`` relative to the data root)."""

    def class_from_key(key: str) -> str:
        stem = os.path.splitext(key)[0]
        return _split_image(stem)[0] if "_image_" in stem else _before_last_underscore(stem)

    return Domain(f"Synth{kind.capitalize()}", (kind,), f"{folder}/{kind}", "images", None,
                  lambda k, e: f"{stem_of(k, e)}.png", class_from_key, (f"synth_{kind}",))


def class_names(spec: SynthSpec) -> dict[str, list[tuple[str, int, str]]]:
    """Per kind: (pseudo-word name, count cue, mark cue) of each subcategory; names unique overall."""
    rng = random.Random(f"names|{spec.seed}")
    used: set[str] = set()
    out = {}
    for kind in KINDS[: spec.num_domains]:
        combos = [(c, m) for c in COUNTS for m in MARKS]
        random.Random(f"combos|{spec.seed}|{kind}").shuffle(combos)
        names = []
        for count, mark in combos[: spec.classes_per_domain]:
            name = ""
            while not name or name in used:
                name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
            used.add(name)
            names.append((name, count, mark))
        out[kind] = names
    return out


def _polygon(cx: float, cy: float, r: float, n: int, rot: float) -> list[tuple[float, float]]:
    return [(cx + r * math.cos(rot + 2 * math.pi * i / n), cy + r * math.sin(rot + 2 * math.pi * i / n)) for i in range(n)]


def _shape_mask(kind: str, count: int, size: int, cx: float, cy: float, r: float) -> Image.Image:
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    if kind == "emblem":
        d.polygon(_polygon(cx, cy, r, count, -math.pi / 2), fill=255)
    elif kind == "bloom":
        for x, y in _polygon(cx, cy, r * 0.55, count, -math.pi / 2):
            pr = r * 0.45
            d.ellipse((x - pr, y - pr, x + pr, y + pr), fill=255)
        d.ellipse((cx - r * 0.4, cy - r * 0.4, cx + r * 0.4, cy + r * 0.4), fill=255)
    else:
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    return mask


def _draw_cues(d: ImageDraw.ImageDraw, kind: str, count: int, mark: str, cx: float, cy: float, r: float, ink: tuple) -> None:
    w = max(1, round(r / 7))
    if kind == "badge":  # spokes encode the count
        for x, y in _polygon(cx, cy, r * 0.9, count, -math.pi / 2):
            d.line((cx, cy, x, y), fill=ink, width=w)
    m = r * 0.35
    if mark == "dot":
        d.ellipse((cx - m / 2, cy - m / 2, cx + m / 2, cy + m / 2), fill=ink)
    elif mark == "ring":
        d.ellipse((cx - m, cy - m, cx + m, cy + m), outline=ink, width=w)
    elif mark == "cross":
        d.line((cx - m, cy - m, cx + m, cy + m), fill=ink, width=w)
        d.line((cx - m, cy + m, cx + m, cy - m), fill=ink, width=w)
    else:
        d.rectangle((cx - m, cy - w, cx + m, cy + w), fill=ink)


def render(kind: str, count: int, mark: str, attrs: dict[str, str], size: int, rng: random.Random) -> Image.Image:
    """One image: the subcategory's cues drawn with the given attributes, small random jitter."""
    img = Image.new("RGB", (size, size), BACKGROUNDS[attrs["background"]])
    px, py = POSITIONS[attrs["position"]]
    cx, cy = (px + rng.uniform(-0.04, 0.04)) * size, (py + rng.uniform(-0.04, 0.04)) * size
    r = SIZES[attrs["size"]] * size * rng.uniform(0.92, 1.08)
    colour = COLOURS[attrs["colour"]]
    fill = Image.new("RGB", (size, size), colour)
    if attrs["pattern"] != "smooth":
        dark = tuple(int(c * 0.55) for c in colour)
        fd = ImageDraw.Draw(fill)
        step = max(3, size // 12)
        for i in range(-size, 2 * size, step):
            if attrs["pattern"] == "striped":
                fd.line((i, 0, i + size, size), fill=dark, width=max(1, step // 3))
            else:
                for j in range(0, size, step):
                    fd.point((i % size, j), fill=dark)
                    fd.point(((i + 1) % size, j), fill=dark)
    img.paste(fill, (0, 0), _shape_mask(kind, count, size, cx, cy, r))
    ink = (250, 250, 250) if sum(colour) < 380 else (25, 25, 25)
    _draw_cues(ImageDraw.Draw(img), kind, count, mark, cx, cy, r, ink)
    return img


def _caption(name: str, kind: str, attrs: dict[str, str], rng: random.Random, schema_a: bool) -> str:
    body = rng.choice(TEMPLATES).format(noun=NOUNS[kind], where=WHERE[attrs["position"]], **attrs)
    return f"This is a {name}.{body}" if schema_a else f"This is a photo of {name}.{body}"


def _attributes(rng: random.Random) -> dict[str, str]:
    return {"colour": rng.choice(list(COLOURS)), "background": rng.choice(list(BACKGROUNDS)),
            "size": rng.choice(list(SIZES)), "position": rng.choice(list(POSITIONS)), "pattern": rng.choice(PATTERNS)}


def generate(out_dir: str, spec: SynthSpec, progress: bool = True) -> None:
    """Write images and caption files for ``spec`` into ``out_dir``, which must be new or empty
    (nothing is ever deleted); the manifest is written last."""
    spec.check()
    if os.path.exists(out_dir) and os.listdir(out_dir):
        raise SynthFolderError(f"{out_dir} is not empty: FDRDSynth writes only into a new or empty folder")
    names = class_names(spec)
    total = spec.num_domains * spec.classes_per_domain * (spec.train_per_class + spec.test_per_class)
    bar = tqdm(total=total, desc="FDRDSynth images", disable=not progress)
    os.makedirs(os.path.join(out_dir, "captions"))
    for kind, classes in names.items():
        rng = random.Random(f"items|{spec.seed}|{kind}")
        image_dir = os.path.join(out_dir, kind, "images")
        os.makedirs(image_dir)
        train, test = {}, {}
        for name, count, mark in classes:
            slug = name.lower()
            for i in range(spec.train_per_class + spec.test_per_class):
                attrs = _attributes(rng)
                img = render(kind, count, mark, attrs, spec.image_size, rng)
                if i < spec.train_per_class:
                    key = f"{slug}_{i:04d}.png"
                    train[key] = {"file_name": key, "class_name": name, "file_path": "YOUR_IMAGE_PATH",
                                  "positive": _caption(name, kind, attrs, rng, False), "negative": []}
                    fname = key
                else:
                    key = f"{slug}_image_{i:04d}"
                    positive = _caption(name, kind, attrs, rng, True)
                    swaps = [rng.choice(classes)[0] for _ in range(4)]  # as released: uniform, with replacement
                    test[key] = {"file_name": key, "class_name": name, "number": f"{i:04d}",
                                 "file_path": f"/synth/{kind}/{key}.png", "positive": positive,
                                 "negative": [positive.replace(name, other) for other in swaps]}
                    fname = f"{key}.png"
                buf = io.BytesIO()
                img.save(buf, "PNG", optimize=False)
                with open(os.path.join(image_dir, fname), "wb") as f:
                    f.write(buf.getvalue())
                bar.update()
        for split, data in (("train", train), ("test", test)):
            fname = f"inter_{kind}_train.json" if split == "train" else f"{kind}_test.json"
            with open(os.path.join(out_dir, "captions", fname), "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)
    bar.close()
    with open(os.path.join(out_dir, MANIFEST), "w", encoding="utf-8") as f:
        json.dump({**asdict(spec), "version": GENERATOR_VERSION}, f, sort_keys=True)


def ensure_generated(root: str, dir_value: str, spec: SynthSpec) -> str:
    """The folder holding ``spec``'s data (relative to ``root``), generated on first use."""
    spec.check()
    return ensure(root, dir_value, spec.folder_name(), lambda tmp: generate(tmp, spec))


@DATASET_REGISTRY.register()
class FDRDSynth(CaptionDataset):
    """The synthetic domains (``DATASET.FDRD.DOMAINS`` picks among them; ``all`` = every one)."""

    def sources(self, cfg: Any, root: str) -> tuple[list[tuple[Domain, dict[str, str]]], str]:
        spec = SynthSpec.from_cfg(cfg.DATASET.FDRD_SYNTH)
        rel = ensure_generated(root, cfg.DATASET.FDRD_SYNTH.DIR, spec)
        out_dir = os.path.join(root, rel)
        domains = [synth_domain(kind, rel) for kind in KINDS[: spec.num_domains]]
        wanted = [n.lower() for n in cfg.DATASET.FDRD.DOMAINS]
        if wanted != ["all"]:
            unknown = [n for n in wanted if not any(n in d.names() for d in domains)]
            if unknown:
                raise ValueError(f"Unknown FDRDSynth domain(s) {unknown}; available: {[d.name for d in domains]}")
            domains = [d for d in domains if d.names() & set(wanted)]
        cap = os.path.join(out_dir, "captions")
        files = [(d, {"train": os.path.join(cap, f"inter_{d.tokens[0]}_train.json"),
                      "test": os.path.join(cap, f"{d.tokens[0]}_test.json")}) for d in domains]
        return files, os.path.join(cap, "split_fewshot")
