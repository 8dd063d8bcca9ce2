"""The Dassl API for this project's trainers, datasets and evaluators.

Real Dassl (KaiyangZhou/Dassl.pytorch) is used when it can be imported, so our classes register
into its registries; otherwise the embedded engine in :mod:`engine.embedded` provides the same
API. Set ``DCAR_ENGINE=embedded`` to force the embedded engine, ``DCAR_ENGINE=dassl`` to require
Dassl (default ``auto``).

Pieces of Dassl that are broken on current PyTorch are always the project's own (same
semantics, fixed; :mod:`engine.fixes`, docs/engine.md, "Faults fixed under both engines"): ``build_lr_scheduler``, checkpoint
saving/loading and resume (``CheckpointMixin``, placed in front of Dassl's trainer classes),
``setup_logger`` and ``check_registered``. The API exported here is what the project uses.
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

from . import dassl_surface as _surface
from .embedded.utils import collect_env_info, set_random_seed
from .fixes.checkpoint import CheckpointMismatchError, CheckpointMixin, load_checkpoint, save_checkpoint
from .fixes.logger import setup_logger
from .fixes.lr_scheduler import build_lr_scheduler
from .fixes.registry import check_registered

ENGINE_ENV = "DCAR_ENGINE"
_DASSL_MODULES = tuple(dict.fromkeys(_surface.EXPORTS.values()))  # the Dassl modules of the recorded surface


def _import_dassl() -> tuple[dict[str, ModuleType] | None, str]:
    choice = (os.environ.get(ENGINE_ENV, "auto").strip().lower()) or "auto"
    if choice not in ("auto", "dassl", "embedded"):
        raise ValueError(f"{ENGINE_ENV}={choice!r} is not valid: use auto, dassl or embedded")
    if choice == "embedded":
        return None, f"forced by {ENGINE_ENV}=embedded"
    try:
        modules = {name: importlib.import_module(name) for name in _DASSL_MODULES}
    except Exception as e:  # Dassl or one of its import-time dependencies is missing
        if choice == "dassl":
            raise ImportError(
                f"{ENGINE_ENV}=dassl but Dassl cannot be imported ({type(e).__name__}: {e}). Install it with its "
                f"import-time dependencies (docs/engine.md, 'Real Dassl or the embedded engine'), or unset {ENGINE_ENV} "
                "to use the embedded engine"
            ) from None
        return None, f"Dassl is not importable ({type(e).__name__}: {e})"
    return modules, ""


_dassl, _why = _import_dassl()

if _dassl is not None:
    import dassl as _dassl_pkg

    ENGINE = "dassl"
    ENGINE_DESCRIPTION = (
        f"Dassl {getattr(_dassl_pkg, '__version__', '?')} from {os.path.dirname(_dassl_pkg.__file__)} "
        "(with the project's fixed LR scheduler, checkpointing and logger)"
    )
    get_cfg_default = _dassl["dassl.config"].get_cfg_default
    _eng = _dassl["dassl.engine"]
    TRAINER_REGISTRY, build_trainer = _eng.TRAINER_REGISTRY, _eng.build_trainer
    _trainers = _eng
    _data, _ds = _dassl["dassl.data"], _dassl["dassl.data.datasets"]
    DataManager, DatasetWrapper = _data.DataManager, _data.DatasetWrapper
    DATASET_REGISTRY, Datum, DatasetBase, build_dataset = _ds.DATASET_REGISTRY, _ds.Datum, _ds.DatasetBase, _ds.build_dataset
    build_transform = _dassl["dassl.data.transforms"].build_transform
    INTERPOLATION_MODES = _dassl["dassl.data.transforms"].INTERPOLATION_MODES
    _ev = _dassl["dassl.evaluation"]
    EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator = _ev.EVALUATOR_REGISTRY, _ev.EvaluatorBase, _ev.build_evaluator
    build_optimizer = _dassl["dassl.optim"].build_optimizer
    compute_accuracy = _dassl["dassl.metrics"].compute_accuracy
else:
    from .embedded import trainer as _trainers
    from .embedded.config import get_cfg_default
    from .embedded.data import (
        DATASET_REGISTRY,
        INTERPOLATION_MODES,
        DataManager,
        DatasetBase,
        DatasetWrapper,
        Datum,
        build_dataset,
        build_transform,
    )
    from .embedded.evaluation import EVALUATOR_REGISTRY, EvaluatorBase, build_evaluator, compute_accuracy
    from .embedded.optim import build_optimizer
    from .embedded.trainer import TRAINER_REGISTRY, build_trainer

    ENGINE = "embedded"
    ENGINE_DESCRIPTION = f"embedded engine (engine/embedded; {_why})"

# Either engine's trainer classes with the project's checkpointing and resume in front of theirs
# (docs/engine.md, "Faults fixed under both engines"): one method order under both.
TrainerBase = type("TrainerBase", (CheckpointMixin, _trainers.TrainerBase), {"__module__": __name__})
SimpleTrainer = type("SimpleTrainer", (CheckpointMixin, _trainers.SimpleTrainer), {"__module__": __name__})
TrainerX = type("TrainerX", (CheckpointMixin, _trainers.TrainerX), {"__module__": __name__})

__all__ = [
    "ENGINE",
    "ENGINE_DESCRIPTION",
    "ENGINE_ENV",
    "get_cfg_default",
    "TRAINER_REGISTRY",
    "TrainerBase",
    "SimpleTrainer",
    "TrainerX",
    "build_trainer",
    "DATASET_REGISTRY",
    "Datum",
    "DatasetBase",
    "build_dataset",
    "DataManager",
    "DatasetWrapper",
    "build_transform",
    "INTERPOLATION_MODES",
    "EVALUATOR_REGISTRY",
    "EvaluatorBase",
    "build_evaluator",
    "compute_accuracy",
    "build_optimizer",
    "build_lr_scheduler",
    "CheckpointMixin",
    "CheckpointMismatchError",
    "save_checkpoint",
    "load_checkpoint",
    "check_registered",
    "setup_logger",
    "set_random_seed",
    "collect_env_info",
]
