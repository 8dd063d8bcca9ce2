"""engine/precision.py: the one device and precision policy (fp32 on CPU, AMP on CUDA)."""
import pytest
import torch

from engine.precision import Precision, check_prec, resolve_device, resolve_precision


def test_cpu_runs_fp32_whatever_is_asked(capsys):
    cpu = torch.device("cpu")
    for prec in ("amp", "bf16", "fp16", "fp32"):
        p = resolve_precision(prec, cpu)
        assert p.autocast_dtype is None and p.scaler is None and p.name == "fp32" and p.frozen_dtype == torch.float32
    assert "needs CUDA" in capsys.readouterr().out
    x = torch.ones(2, 2)
    with resolve_precision("amp", cpu).autocast():
        assert (x @ x).dtype == torch.float32
    assert resolve_device(use_cuda=False) == cpu


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="TRAINER.X.PREC must be one of"):
        check_prec("fp8", "TRAINER.X.PREC")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_amp_uses_bf16_where_supported():
    dev = torch.device("cuda")
    p = resolve_precision("amp", dev)
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert p.autocast_dtype == expected and (p.scaler is None) == (expected == torch.bfloat16)
    with p.autocast():
        assert (torch.ones(2, 2, device=dev) @ torch.ones(2, 2, device=dev)).dtype == expected
    assert isinstance(resolve_precision("fp32", dev), Precision) and resolve_precision("fp32", dev).autocast_dtype is None
