"""The nine FDRD domains: where their images live in CoOp's ``$DATA`` layout and how a caption
file's key maps to an image and a class (docs/fdrd.md, "The nine domains" and "The three schemas")."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable

IMAGE_EXTS = (".jpg", ".jpeg", ".png")
PLACEHOLDER = "YOUR_IMAGE_PATH"


class EntryError(ValueError):
    """A caption entry whose key or fields do not fit its domain's naming."""


def normalize_class(name: str) -> str:
    """One spelling per class: lower case, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").lower().split())


def stem_of(key: str, entry: dict) -> str:
    """``file_name`` (else the key) without an image extension."""
    name = entry.get("file_name") or key
    root, ext = os.path.splitext(name)
    return root if ext.lower() in IMAGE_EXTS else name


def _split_image(stem: str) -> tuple[str, str]:
    folder, sep, number = stem.rpartition("_image_")
    if not sep:
        raise EntryError(f'expected a name like "<Folder>_image_<NNNN>", got "{stem}"')
    return folder, number


def _before_last_underscore(stem: str) -> str:
    prefix, sep, _ = stem.rpartition("_")
    if not sep or not prefix:
        raise EntryError(f'expected a name like "<class>_<id>", got "{stem}"')
    return prefix


def _camel_to_underscore(action: str) -> str:
    return "_".join(re.findall("[A-Z][^A-Z]*", action)) or action


def _ucf_action(stem: str) -> str:
    m = re.fullmatch(r"v_([A-Za-z]+)_g\d+_c\d+", stem)
    if not m:
        raise EntryError(f'expected a name like "v_<Action>_gNN_cNN", got "{stem}"')
    return _camel_to_underscore(m.group(1))


def _caltech(key: str, e: dict) -> str:
    folder, number = _split_image(stem_of(key, e))
    return f"{folder}/image_{number}.jpg"


def _flowers(key: str, e: dict) -> str:
    number = str(e.get("number") or _split_image(stem_of(key, e))[1])
    return f"image_{number}.jpg"


def _cars(key: str, e: dict) -> str:
    m = re.fullmatch(r"(cars_(?:train|test))_(\d+)", stem_of(key, e))
    if not m:
        raise EntryError(f'expected a name like "cars_train_NNNNN.jpg", got "{stem_of(key, e)}"')
    return f"{m.group(1)}/{m.group(2)}.jpg"


def _food(key: str, e: dict) -> str:
    stem = stem_of(key, e)
    cls = e.get("class_name")
    if cls and stem.startswith(cls + "_"):
        return f"{cls}/{stem[len(cls) + 1:]}.jpg"
    folder = _before_last_underscore(stem)
    return f"{folder}/{stem[len(folder) + 1:]}.jpg"


def _aircraft(key: str, e: dict) -> str:
    return f"{stem_of(key, {'file_name': e.get('file_name') or key.rpartition('_')[2]})}.jpg"


def _flat(key: str, e: dict) -> str:
    return f"{stem_of(key, e)}.jpg"


def _dtd(key: str, e: dict) -> str:
    stem = stem_of(key, e)
    return f"{_before_last_underscore(stem)}/{stem}.jpg"


def _ucf(key: str, e: dict) -> str:
    stem = stem_of(key, e)
    return f"{e.get('class_name') or _ucf_action(stem)}/{stem}.jpg"


def _no_class(key: str) -> str:
    raise EntryError("no class_name field, and the class cannot be derived from this domain's keys")


@dataclass(frozen=True)
class Domain:
    """A source dataset of FDRD in CoOp's layout.

    ``image_relpath(key, entry)`` gives the image path relative to ``folder/image_dir``;
    ``class_from_key(key)`` the class for files without ``class_name`` (schema B).
    CoOp's split file, when present, lists paths relative to ``folder/split_prefix``.
    """

    name: str
    tokens: tuple[str, ...]
    folder: str
    image_dir: str
    split_file: str | None
    image_relpath: Callable[[str, dict], str]
    class_from_key: Callable[[str], str]
    aliases: tuple[str, ...] = ()
    split_prefix: str | None = None

    @property
    def split_root(self) -> str:
        return self.image_dir if self.split_prefix is None else self.split_prefix

    def names(self) -> set[str]:
        return {n.lower() for n in (self.name, self.folder, *self.tokens, *self.aliases)}


DOMAINS: tuple[Domain, ...] = (
    Domain("Caltech101", ("caltech-101",), "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json",
           _caltech, lambda k: _split_image(os.path.splitext(k)[0])[0], ("caltech",)),
    Domain("OxfordPets", ("pets",), "oxford_pets", "images", "split_zhou_OxfordPets.json",
           _flat, lambda k: _before_last_underscore(os.path.splitext(k)[0]), ("oxford_pets", "pets")),
    Domain("StanfordCars", ("car",), "stanford_cars", "", "split_zhou_StanfordCars.json",
           _cars, _no_class, ("cars", "stanford_cars")),
    Domain("Flowers102", ("flower",), "oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json",
           _flowers, lambda k: _split_image(k)[0], ("oxfordflowers", "flowers", "oxford_flowers")),
    Domain("Food101", ("food",), "food-101", "images", "split_zhou_Food101.json",
           _food, lambda k: _before_last_underscore(os.path.splitext(k)[0]), ("food",)),
    Domain("FGVCAircraft", ("plane",), "fgvc_aircraft", "images", None,
           _aircraft, _before_last_underscore, ("aircraft", "fgvc_aircraft")),
    Domain("SUN397", ("sun397",), "sun397", "SUN397", "split_zhou_SUN397.json",
           _flat, _no_class, ("sun",)),
    Domain("DTD", ("dtd",), "dtd", "images", "split_zhou_DescribableTextures.json",
           _dtd, lambda k: _before_last_underscore(os.path.splitext(k)[0]), ("describabletextures",)),
    Domain("UCF101", ("ucf101",), "ucf101", "UCF-101-midframes", "split_zhou_UCF101.json",
           _ucf, lambda k: _ucf_action(os.path.splitext(k)[0]), ("ucf",)),
)


def custom_domain(name: str, image_dir: str) -> Domain:
    """A user's own domain: entries name their image relative to ``image_dir`` in ``file_path``
    (or ``file_name``/the key when ``file_path`` is absent or the placeholder)."""

    def relpath(key: str, e: dict) -> str:
        path = e.get("file_path")
        if path and path != PLACEHOLDER:
            if os.path.isabs(path):
                raise EntryError(f'file_path "{path}" is absolute; custom domains need paths relative to {image_dir}')
            return path
        return e.get("file_name") or key

    return Domain(name, (), os.path.abspath(os.path.expanduser(image_dir)), "", None, relpath,
                  lambda k: _before_last_underscore(os.path.splitext(k)[0]))


def find_domain(name: str, extra: tuple[Domain, ...] = ()) -> Domain:
    wanted = name.lower()
    for d in DOMAINS + extra:
        if wanted in d.names():
            return d
    known = ", ".join(d.name for d in DOMAINS + extra)
    raise ValueError(f'Unknown FDRD domain "{name}". Known domains: {known} (or "all")')


def domain_for_file(filename: str) -> tuple[Domain, str] | None:
    """The domain and split a released caption file name stands for, e.g. ``pets_test.json``."""
    m = re.fullmatch(r"(?:inter_)?(?P<token>[a-z0-9-]+)_(?P<split>train|test)\.json", filename)
    if not m:
        return None
    for d in DOMAINS:
        if m.group("token") in d.tokens:
            return d, m.group("split")
    return None
