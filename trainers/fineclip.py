"""FineCLIP (Jing et al., NeurIPS 2024) for retrieval: both towers of CLIP fine-tuned with the global
contrastive loss, real-time self-distillation of region features, and region-language alignment
(docs/method.md, "FineCLIP"). FDRD has no boxes and no region captions: the regions are a fixed grid
of each image (``GRID`` x ``GRID``), and the one region with a text is the whole image with its
caption."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist
from engine.precision import Precision

from .base import RetrievalTrainer
from .clip_driver import encode_image_and_patches
from .finetune import whole_model
from .losses import global_contrastive_loss, in_fp32
from .model import PromptedCLIP, prompted_clip


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.PREC = "amp"  # fp32 on CPU; the weights train in fp32 either way
    c.LOSS = "symmetric"  # or i2t: the global and the region-language contrastive losses
    c.GRID = 2  # the regions self-distillation pulls: a GRID x GRID grid of each image
    c.DISTILL_WEIGHT = 1.0  # of the self-distillation loss (0: off)
    c.REGION_TEXT_WEIGHT = 1.0  # of the region-language loss (0: off)
    cfg.TRAINER.FINECLIP = c


def grid_boxes(grid: int, size: int, device: torch.device | None = None) -> torch.Tensor:
    """[grid * grid, 4] boxes (x1, y1, x2, y2, pixels) of a grid over a size x size image, row by row
    from the top left."""
    edges = torch.linspace(0, size, grid + 1, device=device)
    return torch.stack([torch.stack([edges[c], edges[r], edges[c + 1], edges[r + 1]])
                        for r in range(grid) for c in range(grid)])


def crops(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each box of each image cut out and resized to the input size [B * R, 3, H, W], image-major:
    image b's region r is row b * R + r (bilinear, as a crop fed to the encoder)."""
    size = images.shape[-2:]
    out = [F.interpolate(images[:, :, int(y1):int(y2), int(x1):int(x2)], size=size, mode="bilinear", align_corners=False)
           for x1, y1, x2, y2 in boxes.tolist()]
    return torch.stack(out, dim=1).flatten(0, 1)


def region_features(patches: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box's feature pooled from the patch features [B, P, D] laid out as their grid (RoIAlign,
    one bin, boxes scaled from pixels to patches) [B * R, D], image-major as :func:`crops`."""
    b, p, d = patches.shape
    side = int(round(p ** 0.5))
    grid = patches.transpose(1, 2).reshape(b, d, side, side)
    rois = torch.cat([torch.cat([torch.full((len(boxes), 1), float(i), device=boxes.device), boxes], 1) for i in range(b)])
    return roi_align(grid, rois.to(grid.dtype), output_size=1, spatial_scale=side / size, sampling_ratio=2,
                     aligned=True).flatten(1)


@in_fp32
def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1 - the mean cosine between each region's student feature (pooled from the patches) and its
    teacher feature (the region cropped and encoded), over the global batch. The teacher side is a
    target: no gradient reaches it."""
    student = F.normalize(dist.gather_with_grad(student.float()), dim=-1)
    teacher = F.normalize(dist.gather_rows(teacher.detach().float()), dim=-1)
    return 1.0 - (student * teacher).sum(-1).mean()


@TRAINER_REGISTRY.register()
class FineCLIP(RetrievalTrainer):
    """Both towers train; the temperature stays CLIP's. Evaluation ranks by the pooled features."""

    FROZEN_CLIP = False

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = cfg.TRAINER.FINECLIP
        if c.GRID < 1:
            raise ValueError(f"TRAINER.FINECLIP.GRID must be at least 1, got {c.GRID}")
        if c.DISTILL_WEIGHT < 0 or c.REGION_TEXT_WEIGHT < 0:
            raise ValueError("TRAINER.FINECLIP.DISTILL_WEIGHT and REGION_TEXT_WEIGHT must be >= 0, got "
                             f"{c.DISTILL_WEIGHT} and {c.REGION_TEXT_WEIGHT}")

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        return whole_model(clip_model, prompted_clip(cfg, clip_model, precision, train_clip=True))

    def contrastive_step(self, batch: dict, items: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Global features, region features and their teachers; the global contrastive loss plus the
        weighted self-distillation and region-language losses."""
        c, model = self.node(), self.model
        images = batch["img"].to(model.device)
        size = images.shape[-1]
        with model.precision.autocast():
            img, patches = encode_image_and_patches(model.clip, images)
        img, patches = img.float(), patches.float()
        txt = model.encode_text(self.tokens([it.caption for it in items], self.device))
        loss, _ = global_contrastive_loss(img, txt, items, model.logit_scale, c.LOSS)
        if c.DISTILL_WEIGHT:
            boxes = grid_boxes(c.GRID, size, images.device)
            with torch.no_grad():  # the teacher: the same model, now, on the cropped regions
                teacher = model.encode_image(crops(images, boxes))
            loss = loss + c.DISTILL_WEIGHT * distillation_loss(region_features(patches, boxes, size), teacher)
        if c.REGION_TEXT_WEIGHT:
            whole = region_features(patches, grid_boxes(1, size, images.device), size)
            loss = loss + c.REGION_TEXT_WEIGHT * global_contrastive_loss(whole, txt, items, model.logit_scale, c.LOSS)[0]
        return img, txt, loss
