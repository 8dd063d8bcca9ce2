"""The contract between datasets and the retrieval evaluator (docs/engine.md, "Retrieval items").

A dataset's test items meet :class:`RetrievalItem`: the evaluator reads these fields and nothing
else. ``datasets.fdrd.FDRDDatum`` meets it; :class:`Item` is a plain implementation for other
datasets and for tests. Images are not part of the contract (the trainer encodes them and hands
the evaluator their features in item order).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class RetrievalItem(Protocol):
    """One gallery image as the evaluator sees it."""

    @property
    def captions(self) -> tuple[str, ...]:
        """Every correct caption of the image (FDRD: exactly one)."""

    @property
    def domain_name(self) -> str:
        """The gallery the image belongs to ("" when there is one gallery)."""

    @property
    def key(self) -> str:
        """An identifier unique within the domain (twins refer to it)."""

    @property
    def negatives_category(self) -> tuple[str, ...]:
        """Negative captions with the subcategory swapped."""

    @property
    def negatives_attribute(self) -> tuple[str, ...]:
        """Negative captions with attribute words swapped (same subcategory)."""

    @property
    def negatives_attribute_kinds(self) -> tuple[str, ...]:
        """The kind of word each attribute negative changed (colour, size, ...); "" when unknown."""

    @property
    def twins(self) -> tuple[tuple[str, str], ...]:
        """(key, factor): images of the domain that differ from this one in exactly that factor."""


@dataclass(frozen=True)
class Item:
    """A :class:`RetrievalItem` built from plain values (``impath`` is for the gallery picture)."""

    captions: tuple[str, ...]
    domain_name: str = ""
    key: str = ""
    negatives_category: tuple[str, ...] = ()
    negatives_attribute: tuple[str, ...] = ()
    negatives_attribute_kinds: tuple[str, ...] = ()
    twins: tuple[tuple[str, str], ...] = ()
    impath: str = ""


FIELDS = ("captions", "domain_name", "key", "negatives_category", "negatives_attribute",
          "negatives_attribute_kinds", "twins")


def check_items(items: Sequence[Any], where: str) -> None:
    """Raise a ``TypeError`` naming the first item that does not meet :class:`RetrievalItem`."""
    for i, item in enumerate(items):
        if not isinstance(item, RetrievalItem):
            missing = [f for f in FIELDS if not hasattr(item, f)]
            raise TypeError(f"{where}: item {i} ({type(item).__name__}) is not a retrieval item: it lacks "
                            f"{', '.join(missing)}. Give the dataset's items these fields (evaluation/items.py; "
                            "evaluation.items.Item is a ready-made one).")
        if not item.captions:
            raise TypeError(f"{where}: item {i} ({item.key or type(item).__name__}) has no caption")
