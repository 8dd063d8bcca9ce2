"""Fetching the released FDRD caption files (plain HTTP) and CoOp's split files (gdown), with
timeouts and a clear message when offline."""
from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request

from engine.writes import write_atomic

from .domains import DOMAINS

RELEASE_BASE = "https://raw.githubusercontent.com/wyf202322/DCAR/main/FDRD"
CAPTION_FILES = (
    "flower_test.json", "flower_train.json", "pets_test.json", "pets_train.json", "plane_test.json",
    "plane_train.json", "car_test.json", "inter_caltech-101_train.json", "inter_caltech-101_test.json",
    "inter_car_train.json", "inter_dtd_train.json", "inter_dtd_test.json", "inter_sun397_train.json",
    "inter_sun397_test.json", "inter_ucf101_train.json", "inter_ucf101_test.json", "inter_food_test.json",
)
# CoOp's split files on Google Drive (file ids from https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md).
SPLIT_FILE_IDS = {
    "Caltech101": "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN",
    "OxfordPets": "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs",
    "StanfordCars": "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT",
    "Flowers102": "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT",
    "Food101": "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl",
    "SUN397": "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq",
    "DTD": "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x",
    "UCF101": "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y",
}
TIMEOUT_S = 20.0


class OfflineError(RuntimeError):
    pass


def _get(url: str, dst: str, timeout: float) -> bool:
    """Download ``url`` to ``dst`` (written whole, :func:`engine.writes.write_atomic`); False on
    HTTP 404, OfflineError when unreachable."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as src:
            data = src.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return False
        raise OfflineError(f"{url}: HTTP {e.code}") from e
    except (urllib.error.URLError, socket.timeout, OSError) as e:
        raise OfflineError(f"cannot reach {url} ({e})") from e
    write_atomic(dst, data)
    return True


def fetch_captions(caption_dir: str, timeout: float = TIMEOUT_S) -> tuple[list[str], list[str]]:
    """Fetch every released caption file not yet present. Returns (fetched, not published); an
    OfflineError leaves no folder behind that this call created and left empty."""
    created = not os.path.isdir(caption_dir)
    os.makedirs(caption_dir, exist_ok=True)
    fetched, absent = [], []
    try:
        for name in CAPTION_FILES:
            dst = os.path.join(caption_dir, name)
            if os.path.isfile(dst):
                continue
            for sub in ("", "test/", "train/"):
                if _get(f"{RELEASE_BASE}/{sub}{name}", dst, timeout):
                    fetched.append(name)
                    break
            else:
                absent.append(name)
    except OfflineError:
        if created and not os.listdir(caption_dir):
            os.rmdir(caption_dir)
        raise
    return fetched, absent


def fetch_split_files(root: str) -> tuple[list[str], list[str]]:
    """Fetch CoOp's split_zhou files with gdown into each domain folder. Returns (fetched, failed)."""
    import gdown

    fetched, failed = [], []
    for d in DOMAINS:
        if d.name not in SPLIT_FILE_IDS:
            continue
        dst = os.path.join(root, d.folder, d.split_file)
        if os.path.isfile(dst):
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            ok = gdown.download(id=SPLIT_FILE_IDS[d.name], output=dst, quiet=True)
        except Exception as e:  # gdown raises several types when offline
            ok = None
            print(f"{d.split_file}: {e}")
        (fetched if ok else failed).append(dst)
    return fetched, failed
