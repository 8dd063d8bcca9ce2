"""Resumable storage of the caption builder (docs/captioning.md): finished images are appended to
a JSON Lines work file, one batch per write (flushed and synced), so a killed run loses at most
the batch in flight; a rerun reads the work file and continues. The caption file in the released
schema is written from it at the end, atomically."""
from __future__ import annotations

import json
import os
from typing import Iterable

from engine.writes import append_synced, write_atomic


class WorkFile:
    """``<out>.work.jsonl``: one record per finished image, ``{"key", "entry", "build"}``
    (``entry`` None when the image failed; ``build`` says how it was made)."""

    def __init__(self, out: str) -> None:
        self.path = f"{out}.work.jsonl"
        self.torn = 0  # a last line cut by a kill, dropped and redone

    def load(self) -> dict[str, dict]:
        """Every finished record by key (a later record of a key replaces an earlier one). A torn
        last line is dropped, counted and cut from the file, so appends start on a fresh line."""
        done: dict[str, dict] = {}
        if not os.path.exists(self.path):
            return done
        with open(self.path, encoding="utf-8") as f:
            lines = [x for x in f.read().split("\n") if x.strip()]
        for i, line in enumerate(lines):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i < len(lines) - 1:
                    raise ValueError(f"{self.path}: line {i + 1} is not JSON and is not the last line; the work file "
                                     "was edited or is damaged (delete the line to redo that image)") from None
                self.torn += 1
                self._rewrite(lines[:-1])
                continue
            done[rec["key"]] = rec
        return done

    def _rewrite(self, lines: list[str]) -> None:
        write_atomic(self.path, "".join(x + "\n" for x in lines))

    def append(self, records: Iterable[dict]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if not text:
            return
        append_synced(self.path, text)


def write_caption_file(out: str, entries: dict[str, dict]) -> None:
    """The caption file (key -> released-schema entry), written to a temporary file and renamed."""
    write_atomic(out, json.dumps(entries, indent=1, ensure_ascii=False))
