"""Name -> object registries (the ``Registry`` of the Dassl API, docs/engine.md, "Trainer")."""
from __future__ import annotations

from typing import Any, Callable, Iterator

from ..fixes.registry import check_registered


class Registry:
    """A mapping from class names to classes, filled by the ``register`` decorator."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._obj_map: dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any, force: bool = False) -> None:
        if name in self._obj_map and not force:
            raise KeyError(f'An object named "{name}" was already registered in "{self._name}" registry')
        self._obj_map[name] = obj

    def register(self, obj: Any = None, force: bool = False) -> Any:
        """Register ``obj`` under ``obj.__name__``; usable as ``@REG.register()`` or ``REG.register(cls)``."""
        if obj is None:

            def wrapper(fn_or_class: Any) -> Any:
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return obj

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise KeyError(f'Object name "{name}" does not exist in "{self._name}" registry')
        return self._obj_map[name]

    def registered_names(self) -> list[str]:
        return list(self._obj_map.keys())

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(self._obj_map.items())


def build_from_registry(registry: Registry, name: str, what: str, verbose: bool, **kwargs: Any) -> Any:
    """Check ``name``, print ``Loading {what}: {name}`` when verbose, and instantiate it."""
    check_registered(registry, name, what)
    if verbose:
        print(f"Loading {what}: {name}")
    builder: Callable[..., Any] = registry.get(name)
    return builder(**kwargs)
