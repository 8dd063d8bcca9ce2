"""FineCLIP (trainers/fineclip.py): the grid of regions, its crops and its pooled region features in
the same order, self-distillation with no gradient into the teacher, the losses together, both
towers training, and exact reload and resume, on a tiny CLIP."""
import copy

import pytest
import torch

from tests.dcar_helpers import (
    build,
    resumed_equals_uninterrupted,
    steps_on_one_batch,
    trainer_cfg,
)
from trainers.fineclip import crops, distillation_loss, grid_boxes, region_features


def _cfg(tmp_path, ckpt, **opts):
    return trainer_cfg(tmp_path, ckpt, "FineCLIP", **opts)


def test_the_grid_is_row_by_row_from_the_top_left():
    assert grid_boxes(2, 32).tolist() == [[0, 0, 16, 16], [16, 0, 32, 16], [0, 16, 16, 32], [16, 16, 32, 32]]
    assert grid_boxes(1, 32).tolist() == [[0, 0, 32, 32]]


def test_each_region_feature_is_pooled_from_the_patches_its_crop_shows():
    """Two 32-px images whose quadrants have distinct values, a 'patch feature' that is its 8-px
    patch's mean: region r of image b pools to the value its crop b * 2 * 2 + r shows. Fails if the
    student's regions and the teacher's crops are not in the same order (region i matched to crop j),
    or image-major on one side and region-major on the other."""
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])  # per image, quadrants row by row
    images = torch.zeros(2, 3, 32, 32)
    for b in range(2):
        for r, (x1, y1, x2, y2) in enumerate(grid_boxes(2, 32).int().tolist()):
            images[b, :, y1:y2, x1:x2] = values[b, r]
    patches = images[:, 0].unfold(1, 8, 8).unfold(2, 8, 8).mean((-1, -2)).flatten(1)[..., None]  # [B, 16, 1]
    boxes = grid_boxes(2, 32)
    assert crops(images, boxes).mean((1, 2, 3)).tolist() == values.flatten().tolist()
    assert region_features(patches, boxes, 32).flatten().tolist() == pytest.approx(values.flatten().tolist())


def test_distillation_pulls_the_student_and_never_the_teacher():
    """1 - cosine, per region: 0 for the same direction, 1 for orthogonal ones; the gradient reaches
    the student only (fails if the teacher side is not a target)."""
    student = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    teacher = torch.tensor([[3.0, 0.0], [1.0, 0.0]], requires_grad=True)
    loss = distillation_loss(student, teacher)
    assert loss.item() == pytest.approx(0.5)
    loss.backward()
    assert teacher.grad is None and student.grad is not None and student.grad.abs().sum() > 0


def test_both_towers_train_and_each_loss_counts(tmp_path, ckpt):
    t = build(_cfg(tmp_path, ckpt))
    clip = t.model.clip
    before = copy.deepcopy(clip.state_dict())
    steps_on_one_batch(t, 2)
    moved = {k for k in before if not torch.equal(before[k], clip.state_dict()[k])}
    assert any(k.startswith("visual.") for k in moved) and any(k.startswith("transformer.") for k in moved)
    assert "logit_scale" not in moved
    losses = {}
    for name, opts in (("all", {}), ("global only", {"TRAINER__FINECLIP__DISTILL_WEIGHT": 0.0,
                                                      "TRAINER__FINECLIP__REGION_TEXT_WEIGHT": 0.0})):
        losses[name] = steps_on_one_batch(build(_cfg(tmp_path / name, ckpt, **opts)), 1)[0]
    assert losses["all"] > losses["global only"]  # the region terms add to the loss (switched off: not)


@pytest.mark.slow
def test_a_killed_run_resumes_and_a_trained_run_reloads_exactly(tmp_path, ckpt):
    resumed_equals_uninterrupted(lambda name: _cfg(tmp_path / name, ckpt, OPTIM__MAX_EPOCH=2), reload=True)
