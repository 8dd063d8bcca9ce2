"""``check_registered``: an unknown trainer, dataset or evaluator name is one error that lists the
registered names and the closest match (docs/engine.md, "Faults fixed under both engines"). Works with Dassl's registries too."""
from __future__ import annotations

import difflib
from typing import Any


def check_registered(registry: Any, name: str, what: str) -> None:
    """Raise a ValueError naming every registered entry when ``name`` is not in ``registry``.

    Works with our ``Registry`` and with Dassl's (both have ``registered_names``).
    """
    names = sorted(registry.registered_names())
    if name in names:
        return
    same_letters = [n for n in names if n.lower() == name.lower()]  # "dcar" for "DCAR"
    close = same_letters or difflib.get_close_matches(name, names, n=1)
    hint = f' Did you mean "{close[0]}"?' if close else ""
    raise ValueError(f'Unknown {what} "{name}".{hint} Registered {what}s: {", ".join(names) or "(none)"}')
