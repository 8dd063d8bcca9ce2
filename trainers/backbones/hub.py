"""Files from the Hugging Face hub: the local cache first, a download only where allowed
(docs/backbones.md, "Where weights are looked for").

``huggingface_hub`` owns the cache layout (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``~/.cache/huggingface/hub``: ``models--<org>--<name>/{refs,snapshots,blobs}``). A pinned
revision resolves inside ``snapshots/<revision>`` without asking the hub; ``main`` resolves
through ``refs/main``. Downloads show huggingface_hub's progress bar.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

MAIN = "main"
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


def fetch(f: HubFile, allow_download: bool) -> tuple[str | None, str]:
    """(local path or None, why not) for one hub file: the cache, then a download when allowed
    and ``HF_HUB_OFFLINE`` is not set."""
    local_only = not allow_download or offline()
    try:
        return hf_hub_download(f.repo, f.file, revision=f.revision, cache_dir=cache_root(),
                               local_files_only=local_only), ""
    except _NOT_THERE as e:
        if local_only:
            why = "downloads are off (HF_HUB_OFFLINE=1)" if offline() else "downloads are off (MODEL.BACKBONE.DOWNLOAD False)"
        else:
            why = f"download failed: {str(e).splitlines()[0]}"
        return None, why
