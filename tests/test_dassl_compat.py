"""With real Dassl installed, the same trainer code registers into Dassl's registries and the
engine test-suite passes on Dassl's trainer loop (with our fixed scheduler/checkpointing)."""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_DASSL = importlib.util.find_spec("dassl") is not None
pytestmark = pytest.mark.skipif(
    not HAS_DASSL, reason="Dassl (KaiyangZhou/Dassl.pytorch) is not installed; install it from source to run these"
)


def _run(code_or_args, timeout=600):
    env = dict(os.environ, DCAR_ENGINE="dassl", PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


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


def test_engine_suite_passes_on_dassl():
    res = _run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_engine_training.py",
                "tests/test_registry_config.py", "tests/test_lr_schedule.py", "tests/test_fdrd_inputs.py",
                "tests/test_fdrd_synth.py", "tests/test_retrieval_eval.py", "tests/test_zsclip_e2e.py",
                "tests/test_dcar.py", "tests/test_baselines.py", "tests/test_speed.py", "tests/test_distributed.py"])
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-3000:]
