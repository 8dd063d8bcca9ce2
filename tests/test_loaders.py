"""The global-batch sampler (trainers/loaders.py)."""
import pytest
import torch
from torch.utils.data import RandomSampler

from trainers.loaders import GlobalBatchSampler


@pytest.mark.parametrize("n,batch,drop_last", [(10, 4, True), (10, 4, False), (8, 8, True)])
def test_global_batch_sampler_single_process_is_random_sampler_order(n, batch, drop_last):
    torch.manual_seed(3)
    batches = list(GlobalBatchSampler(n, batch, shuffle=True, drop_last=drop_last))
    torch.manual_seed(3)
    order = list(RandomSampler(range(n)))
    flat = [i for b in batches for i in b]
    assert flat == order[:len(flat)]
    assert len(batches) == (n // batch if drop_last else -(-n // batch))
    assert all(len(b) == batch for b in batches[:-1])
    assert list(GlobalBatchSampler(n, batch, shuffle=False, drop_last=False))[0] == list(range(min(batch, n)))
