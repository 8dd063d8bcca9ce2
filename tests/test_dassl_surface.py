"""engine.dassl_surface: the embedded engine matches the recorded Dassl surface (config keys and
defaults, exported names, trainer hooks and parameters, the classification path included), so a drift from Dassl fails in CI,
where Dassl cannot be installed; with Dassl importable, Dassl matches the record too."""
import importlib
import inspect

import pytest

import engine
from engine import dassl_surface as surface
from engine.embedded import config as embedded_config
from engine.embedded import trainer as embedded_trainer
from reporting.identity import flatten


def _params(cls, hook):
    return tuple(p for p in inspect.signature(getattr(cls, hook)).parameters if p != "self")


def test_embedded_config_defaults_are_dassls():
    emb = flatten(embedded_config.get_cfg_default())
    assert set(emb) == set(surface.CONFIG_DEFAULTS), "a key was added to or dropped from the embedded engine"
    for key, want in surface.CONFIG_DEFAULTS.items():
        assert emb[key] == (list(want) if isinstance(want, tuple) else want), key


def test_embedded_trainer_has_every_hook_with_dassls_parameters():
    """The embedded TrainerX as :mod:`engine` composes it (checkpointing in front, as for Dassl's)."""
    composed = type("TrainerX", (engine.CheckpointMixin, embedded_trainer.TrainerX), {})
    for hook, params in surface.HOOKS.items():
        assert _params(composed, hook) == params, hook


def test_one_method_order_under_both_engines():
    """The project's checkpointing stands in front of the engine's TrainerX -- Dassl's or the embedded
    one -- and nowhere else, so a trainer's class chain is the same under both (fails if the mixin is
    put back at the bottom of the embedded classes)."""
    import trainers  # noqa: F401 - registers the project's trainers

    for cls in (engine.TrainerBase, engine.SimpleTrainer, engine.TrainerX):
        assert cls.__mro__[1] is engine.CheckpointMixin
        assert engine.CheckpointMixin not in cls.__mro__[2].__mro__
    chain = [c.__name__ for c in engine.TRAINER_REGISTRY.get("DCAR").__mro__]
    assert chain == ["DCAR", "RetrievalTrainer", "TrainerX", "CheckpointMixin", "TrainerX", "SimpleTrainer",
                     "TrainerBase", "object"]


def test_every_engine_export_is_recorded():
    exported = {n for n in dir(engine) if (n[0].isupper() or n.startswith(("build_", "get_")))
                and getattr(getattr(engine, n), "__module__", "") != "builtins"}  # not a typing import
    ours = {"CheckpointMismatchError", "CheckpointMixin", "ENGINE", "ENGINE_DESCRIPTION", "ENGINE_ENV",
            "build_lr_scheduler"}  # the project's own (engine/fixes)
    assert exported - ours - set(surface.EXPORTS) == set(), "record new Dassl-facing names in engine/dassl_surface.py"
    assert all(hasattr(engine, n) for n in surface.EXPORTS)


def test_a_drift_would_be_seen(monkeypatch):
    """The checks above fail on a changed default or a renamed hook parameter."""
    monkeypatch.setitem(surface.CONFIG_DEFAULTS, "OPTIM.LR", 0.1)
    with pytest.raises(AssertionError, match="OPTIM.LR"):
        test_embedded_config_defaults_are_dassls()
    monkeypatch.setitem(surface.HOOKS, "forward_backward", ("inputs",))
    with pytest.raises(AssertionError, match="forward_backward"):
        test_embedded_trainer_has_every_hook_with_dassls_parameters()


def test_real_dassl_matches_the_record():
    dassl_config = pytest.importorskip("dassl.config",
                                       reason="Dassl is not installed (docs/engine.md, 'Real Dassl or the embedded engine')")
    dassl = flatten(dassl_config.get_cfg_default())
    for key, value in surface.CONFIG_DEFAULTS.items():
        assert dassl[key] == (list(value) if isinstance(value, tuple) else value), key
    trainer_x = importlib.import_module("dassl.engine").TrainerX
    for hook, params in surface.HOOKS.items():
        assert _params(trainer_x, hook) == params, hook
    for name, module in surface.EXPORTS.items():
        assert hasattr(importlib.import_module(module), name), (module, name)
