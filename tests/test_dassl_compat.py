"""With real Dassl installed, the same trainer code registers into Dassl's registries and the
engine test-suite passes on Dassl's trainer loop (with our fixed scheduler/checkpointing)."""
import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _why_not() -> str | None:
    """Why these tests cannot run here (None: Dassl imports with its dependencies)."""
    if importlib.util.find_spec("dassl") is None:
        return ("Dassl (KaiyangZhou/Dassl.pytorch) is not installed; install it from source "
                "(docs/engine.md, 'Real Dassl or the embedded engine')")
    try:
        for name in ("dassl.engine", "dassl.data", "dassl.evaluation", "dassl.optim", "dassl.metrics"):
            importlib.import_module(name)
    except Exception as e:  # its import-time dependencies (wilds, scikit-learn, ...) are missing
        return (f"Dassl is installed but cannot be imported ({type(e).__name__}: {e}); install its import-time "
                "dependencies: pip install wilds scikit-learn (docs/engine.md, 'Real Dassl or the embedded engine')")
    return None


WHY_NOT = _why_not()
needs_dassl = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")
# The tests that train, resume and evaluate, run again on Dassl's trainer loop.
DASSL_SUITE = ("tests/test_engine_training.py", "tests/test_registry_config.py", "tests/test_lr_schedule.py",
               "tests/test_fdrd_inputs.py", "tests/test_fdrd_synth.py", "tests/test_retrieval_eval.py",
               "tests/test_zsclip_e2e.py", "tests/test_dcar.py", "tests/test_dtr.py", "tests/test_baselines.py",
               "tests/test_clip_lora.py", "tests/test_promptsrc.py", "tests/test_finetune.py", "tests/test_model.py",
               "tests/test_trained.py", "tests/test_distributed.py", "tests/test_train.py", "tests/test_fdrd_partial.py",
               "tests/test_filip.py", "tests/test_alip.py", "tests/test_fineclip.py")


def _run(code_or_args, timeout=600):
    env = dict(os.environ, DCAR_ENGINE="dassl", PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_trainer_is_tested_on_dassl_too():
    """Fails when a new trainer's tests are left out of ``DASSL_SUITE`` (as CLIP-LoRA's, PromptSRC's
    and FullFineTune's once were)."""
    from engine import TRAINER_REGISTRY
    from plugins import load_plugins

    load_plugins()
    texts = [pathlib.Path(ROOT, path).read_text(encoding="utf-8") for path in DASSL_SUITE]
    ours = [n for n in TRAINER_REGISTRY.registered_names()  # under real Dassl, its own trainers are there too
            if TRAINER_REGISTRY.get(n).__module__.split(".")[0] == "trainers"]
    untested = [name for name in ours if not any(f'"{name}"' in text for text in texts)]
    assert ours and not untested, f"trainers no file of DASSL_SUITE runs: {untested}"


@needs_dassl
def test_registers_into_dassl_registries():
    code = (
        "import engine, dassl.engine, dassl.data.datasets, dassl.evaluation\n"
        "import trainers, datasets\n"
        "from tests import toy\n"
        "assert engine.ENGINE == 'dassl', engine.ENGINE_DESCRIPTION\n"
        "assert engine.TRAINER_REGISTRY is dassl.engine.TRAINER_REGISTRY\n"
        "assert dassl.engine.TRAINER_REGISTRY.get('ToyTrainer') is toy.ToyTrainer\n"
        "assert dassl.data.datasets.DATASET_REGISTRY.get('ToyColours') is toy.ToyColours\n"
        "assert issubclass(toy.ToyTrainer, dassl.engine.TrainerX)\n"
        "print('ok')\n"
    )
    res = _run(["-c", code])
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


@needs_dassl
def test_engine_suite_passes_on_dassl():
    res = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", *DASSL_SUITE])
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
