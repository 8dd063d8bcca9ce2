"""Files from the Hugging Face hub: the local cache first, a download only where allowed
(docs/backbones.md, "Where weights are looked for").

``huggingface_hub`` owns the cache layout (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``: ``models--<org>--<name>/{refs,snapshots,blobs}``). A pinned
revision resolves inside ``snapshots/<revision>`` without asking the hub; ``main`` resolves
through ``refs/main``. Downloads show huggingface_hub's progress bar. Before a download the hub's
host is tried once (a few seconds): huggingface_hub would retry an unreachable host five times,
about 25 s of back-off, before failing.
"""
from __future__ import annotations

import glob
import os
import socket
import urllib.parse
from dataclasses import dataclass

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

MAIN = "main"
CONNECT_TIMEOUT_S = 5.0
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_NOT_THERE = (EntryNotFoundError, LocalEntryNotFoundError, HfHubHTTPError, OfflineModeIsEnabled)


@dataclass(frozen=True)
class HubFile:
    repo: str
    file: str
    revision: str = MAIN

    def where(self) -> str:
        return f"{self.repo}@{self.revision[:12]}/{self.file}"

    def fix(self) -> str:
        """The command that puts this file into the cache (on a machine with internet)."""
        rev = f" --revision {self.revision}" if self.revision != MAIN else ""
        return f"hf download {self.repo} {self.file}{rev}"


def offline() -> bool:
    """``HF_HUB_OFFLINE=1`` (read now, not when huggingface_hub was imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cache_root() -> str:
    return os.environ.get("HF_HUB_CACHE") or (
        os.path.join(os.environ["HF_HOME"], "hub") if os.environ.get("HF_HOME") else constants.HF_HUB_CACHE)


def unreachable() -> str:
    """Why the hub's host cannot be reached from here, or "" (also "" behind a proxy, which only
    huggingface_hub's own request can try). Reads ``HF_ENDPOINT`` now."""
    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return ""
    url = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        return f"this machine cannot reach the hub at {host} ({e.strerror or e})"
    return ""


def fetch(f: HubFile, allow_download: bool) -> tuple[str | None, str]:
    """(local path or None, why not) for one hub file: the cache, then a download when allowed,
    ``HF_HUB_OFFLINE`` is not set and the hub can be reached."""
    try:
        return hf_hub_download(f.repo, f.file, revision=f.revision, cache_dir=cache_root(), local_files_only=True), ""
    except _NOT_THERE:
        pass
    if offline():
        return None, "downloads are off (HF_HUB_OFFLINE=1)"
    if not allow_download:
        return None, "downloads are off (MODEL.BACKBONE.DOWNLOAD False)"
    why = unreachable()
    if why:
        return None, why
    try:
        return hf_hub_download(f.repo, f.file, revision=f.revision, cache_dir=cache_root()), ""
    except _NOT_THERE as e:
        return None, f"download failed: {str(e).splitlines()[0]}"


def cached_copies(f: HubFile) -> list[str]:
    """Every copy of ``f.file`` in the cache's snapshots of ``f.repo``, whatever their revision."""
    folder = os.path.join(cache_root(), f"models--{f.repo.replace('/', '--')}", "snapshots")
    return sorted(glob.glob(os.path.join(glob.escape(folder), "*", f.file)))
