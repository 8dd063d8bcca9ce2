"""The world FDRDSynth and the small CLIP's pretraining corpus are drawn from, as data.

* **Meta-categories** (domains): emblems, flowers, badges (their silhouettes). A **subcategory**
  is a pair of visual cues of its inner mark -- a shape (dot, ring, cross, bar) and an ink colour
  -- named by an opaque pseudo-word, as real fine-grained classes are. Subcategories that share
  a mark shape or an ink are siblings.
* **Attributes** (``FACTORS``): object colour, background, size, position and surface pattern,
  drawn independently of the subcategory.
* **Two ways of speaking.** FDRDSynth's captions (the downstream domain) use one fixed phrase
  per value (``Factor.downstream``) in long sentences with ungrounded filler. The pretraining
  corpus speaks differently (``Factor.pretraining``: synonyms, and the downstream phrase only in
  a small share of its mentions), mentions each attribute only sometimes,
  names subcategories rarely and describes their cues instead (how much of each is the
  pretraining recipe's choice: :class:`trainers.backbones.small_clip.recipe.Style`). The gap between the two is
  the distribution shift that prompt learning has to bridge.

Everything here is plain data plus the renderer; :mod:`datasets.fdrd.synth` writes FDRDSynth
and :mod:`trainers.backbones.small_clip.recipe` builds the pretraining corpus from it.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class Factor:
    """An attribute: its values, how FDRDSynth's captions say each, and how pretraining says it."""

    name: str
    values: tuple[str, ...]
    downstream: dict[str, str]
    pretraining: dict[str, tuple[str, ...]]


def _factor(name: str, table: dict[str, tuple[str, ...]]) -> Factor:
    """``table``: value -> (downstream phrase, pretraining synonyms...)."""
    return Factor(name, tuple(table), {v: p[0] for v, p in table.items()}, {v: p[1:] for v, p in table.items()})


COLOUR = _factor("colour", {
    "red": ("red", "scarlet", "cherry", "crimson"), "orange": ("orange", "tangerine", "amber", "apricot"),
    "yellow": ("yellow", "lemon", "mustard", "golden"), "green": ("green", "emerald", "lime", "olive"),
    "blue": ("blue", "navy", "azure", "cobalt"), "purple": ("purple", "violet", "plum", "lilac"),
    "pink": ("pink", "rose", "salmon", "blush"), "brown": ("brown", "chocolate", "coffee", "tan"),
})
BACKGROUND = _factor("background", {
    "white": ("on a white background", "on snowy ground", "against ivory", "on a pale backdrop"),
    "black": ("on a black background", "on dark ground", "against ebony", "on a jet backdrop"),
    "gray": ("on a gray background", "on ash ground", "against slate", "on a grey backdrop"),
    "beige": ("on a beige background", "on sand ground", "against cream", "on a khaki backdrop"),
})
SIZE = _factor("size", {
    "small": ("small", "tiny", "little", "mini"), "medium": ("medium", "mid-sized", "moderate", "average-sized"),
    "large": ("large", "big", "sizeable", "ample"), "huge": ("huge", "giant", "enormous", "massive"),
})
POSITION = _factor("position", {
    "left": ("at the left side of the image", "on the left", "to the left", "leftmost"),
    "right": ("at the right side of the image", "on the right", "to the right", "rightmost"),
    "top": ("in the upper part of the image", "up high", "near the top edge", "highest"),
    "bottom": ("in the lower part of the image", "down low", "near the bottom edge", "lowest"),
    "center": ("in the middle of the image", "centred", "in the centre", "central"),
})
PATTERN = _factor("pattern", {
    "smooth": ("with a smooth surface", "plain", "solid", "flat-coloured"),
    "striped": ("with a striped surface", "stripy", "banded", "lined"),
    "dotted": ("with a dotted surface", "spotty", "speckled", "freckled"),
    "checkered": ("with a checkered surface", "gridded", "plaid", "tartan"),
})
FACTORS: tuple[Factor, ...] = (COLOUR, BACKGROUND, SIZE, POSITION, PATTERN)
FACTOR = {f.name: f for f in FACTORS}


def distinctive_words() -> dict[str, dict[str, set[str]]]:
    """factor -> value -> the caption words that say this value and no other value of the factor
    ("left" for position left; "on", "a", "background" say every background)."""
    from datasets.text import words

    out = {}
    for f in FACTORS:
        said = {v: {w for w, _ in words(f.downstream[v])} for v in f.values}
        out[f.name] = {v: said[v] - set().union(*(s for u, s in said.items() if u != v)) for v in f.values}
    return out


@dataclass(frozen=True)
class Kind:
    """A meta-category: the noun FDRDSynth's captions use, pretraining nouns, and its silhouette
    (a polygon, petals or a disc with spokes; ``count`` sides, petals or spokes)."""

    name: str
    noun: str
    pretraining_nouns: tuple[str, ...]
    count: int


KINDS: tuple[Kind, ...] = (
    Kind("emblem", "emblem", ("emblem", "logo", "symbol", "sign"), 6),
    Kind("bloom", "flower", ("flower", "blossom", "bloom"), 5),
    Kind("badge", "badge", ("badge", "medal", "token", "button"), 4),
)
MARKS = ("dot", "ring", "cross", "bar")
INKS = {"white": (250, 250, 250), "black": (20, 20, 20), "cyan": (0, 215, 230), "magenta": (225, 0, 200)}
SYLLABLES = ("ka", "lo", "mi", "ren", "tor", "vel", "sa", "qui", "dun", "bri", "fen", "zo", "ha", "pel", "mar", "tis",
             "nor", "gal", "vi", "ros", "kel", "dra", "mun", "ser")
FILLER = (  # ungrounded sentences, as machine-written captions have
    "It looks like a design for a logo.", "The picture has a clean and simple look.",
    "Nothing else can be seen in the image.", "The shape is drawn with care.", "It would fit well on a poster.",
    "The overall impression is calm and tidy.", "This kind of image is often used in catalogues.",
)
PRETRAINING_FILLER = ("nice", "cool design", "my favourite", "found this today", "high quality", "for sale")

# Drawing: colours of objects and backgrounds, sizes (radius / image side), positions (centre).
RGB = {"red": (200, 40, 40), "orange": (235, 140, 30), "yellow": (230, 210, 40), "green": (50, 160, 60),
       "blue": (40, 80, 200), "purple": (130, 50, 170), "pink": (240, 130, 180), "brown": (120, 75, 40)}
BACKGROUND_RGB = {"white": (245, 245, 245), "black": (20, 20, 20), "gray": (128, 128, 128), "beige": (225, 205, 170)}
RADIUS = {"small": 0.14, "medium": 0.19, "large": 0.24, "huge": 0.29}
CENTRE = {"left": (0.3, 0.5), "right": (0.7, 0.5), "top": (0.5, 0.3), "bottom": (0.5, 0.7), "center": (0.5, 0.5)}


@dataclass(frozen=True)
class Subcategory:
    """A fine class of a meta-category: its pseudo-word name and its visual cues."""

    kind: str
    name: str
    ink: str
    mark: str

    def cue_phrase(self) -> str:
        """The cues in words, as pretraining captions describe them ("with a cyan ring")."""
        return f"with a {self.ink} {self.mark}"


def _name_world() -> dict[str, list[Subcategory]]:
    """Every subcategory of every meta-category (all ink x mark pairs), in a fixed shuffled
    order, with its fixed pseudo-word name: the world does not change with a data seed."""
    used: set[str] = set()
    rng = random.Random("names")
    out = {}
    for kind in KINDS:
        combos = [(ink, m) for ink in INKS for m in MARKS]
        random.Random(f"combos|{kind.name}").shuffle(combos)
        subs = []
        for ink, mark in combos:
            name = ""
            while not name or name in used:
                name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
            used.add(name)
            subs.append(Subcategory(kind.name, name, ink, mark))
        out[kind.name] = subs
    return out


WORLD: dict[str, list[Subcategory]] = _name_world()


def subcategories(kind: str, n: int) -> list[Subcategory]:
    """The first ``n`` subcategories of ``kind`` (a data set with fewer classes uses a subset)."""
    return WORLD[kind][:n]


def siblings(classes: list[Subcategory]) -> dict[str, list[Subcategory]]:
    """Each class's nearest classes in cue space: the same mark shape or the same ink (the
    subcategories a backbone most easily confuses)."""
    out = {}
    for c in classes:
        near = [o for o in classes if o is not c and (o.mark == c.mark or o.ink == c.ink)]
        out[c.name] = near or [o for o in classes if o is not c]
    return out


def draw_attributes(rng: random.Random) -> dict[str, str]:
    return {f.name: rng.choice(f.values) for f in FACTORS}


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


def _draw_mark(d: ImageDraw.ImageDraw, mark: str, cx: float, cy: float, r: float, ink: tuple) -> None:
    w = max(2, round(r / 5))
    m = r * 0.55
    if mark == "dot":
        d.ellipse((cx - m / 1.6, cy - m / 1.6, cx + m / 1.6, cy + m / 1.6), fill=ink)
    elif mark == "ring":
        d.ellipse((cx - m, cy - m, cx + m, cy + m), outline=ink, width=w)
    elif mark == "cross":
        d.line((cx - m, cy - m, cx + m, cy + m), fill=ink, width=w)
        d.line((cx - m, cy + m, cx + m, cy - m), fill=ink, width=w)
    else:
        d.rectangle((cx - m, cy - w, cx + m, cy + w), fill=ink)


def render(sub: Subcategory, attrs: dict[str, str], size: int, rng: random.Random) -> Image.Image:
    """One image of ``sub`` with ``attrs``, with a small random jitter of place, size and rotation."""
    img = Image.new("RGB", (size, size), BACKGROUND_RGB[attrs["background"]])
    px, py = CENTRE[attrs["position"]]
    cx, cy = (px + rng.uniform(-0.03, 0.03)) * size, (py + rng.uniform(-0.03, 0.03)) * size
    r = RADIUS[attrs["size"]] * size * rng.uniform(0.94, 1.06)
    colour = RGB[attrs["colour"]]
    fill = Image.new("RGB", (size, size), colour)
    if attrs["pattern"] != "smooth":
        dark = tuple(int(c * 0.5) for c in colour)
        fd = ImageDraw.Draw(fill)
        step = max(3, size // 12)
        for i in range(-size, 2 * size, step):
            if attrs["pattern"] == "striped":
                fd.line((i, 0, i + size, size), fill=dark, width=max(1, step // 3))
            elif attrs["pattern"] == "checkered":
                fd.line((i, 0, i, size), fill=dark, width=1)
                fd.line((0, i, size, i), fill=dark, width=1)
            else:
                for j in range(0, size, step):
                    fd.rectangle((i % size, j, i % size + 1, j + 1), fill=dark)
    kind = next(k for k in KINDS if k.name == sub.kind)
    img.paste(fill, (0, 0), _shape_mask(sub.kind, kind.count, size, cx, cy, r))
    d = ImageDraw.Draw(img)
    if sub.kind == "badge":  # the badge's spokes, in a neutral ink
        for x, y in _polygon(cx, cy, r * 0.95, kind.count, math.pi / 4):
            d.line((cx, cy, x, y), fill=(128, 128, 128), width=max(1, round(r / 8)))
    _draw_mark(d, sub.mark, cx, cy, r, INKS[sub.ink])
    return img
