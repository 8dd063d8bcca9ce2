"""L_con and L_cate stay fp32 under autocast (trainers/losses.py, trainers/dcar/objective.py)."""
import torch

from trainers.dcar.objective import category_loss
from trainers.losses import contrastive_loss


def test_losses_and_similarities_stay_fp32_under_autocast():
    torch.manual_seed(0)
    img, txt = torch.randn(8, 64), torch.randn(8, 64)
    cands, valid, w = torch.randn(8, 5, 64), torch.ones(8, 5, dtype=torch.bool), torch.ones(8, 5)
    ref = contrastive_loss(img, txt, 100.0), category_loss(img, cands, valid, w, 100.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 matmuls would move these by ~1e-2
        assert torch.matmul(img, txt.T).dtype == torch.bfloat16
        got = contrastive_loss(img, txt, 100.0), category_loss(img, cands, valid, w, 100.0)
    assert all(g.dtype == torch.float32 and torch.equal(g, r) for g, r in zip(got, ref))
