"""The DCAR trainer (docs/method.md §2-§5): dual prompts, dynamic token re-weighting, category-aware
augmentation with category-matching weights; L = L_con + lambda * L_cate. It extends MaPLe's
prompted step (``trainers/prompted.py``) with DTR (``dtr.py``) and the category branch (``caa.py``,
``losses.py``); the negatives are the items' own (``datasets/negatives.py``).

Every component is a switch (``TRAINER.DCAR.*``), so each ablation of docs/method.md §10 is one
config change: ``DTR.ENABLED``, ``CATE.LAMBDA`` (0 = no L_cate branch), ``CATE.ALPHA`` (0 = no
category-matching weight), ``CAA.TYPE`` (``none`` = identity), ``VISUAL_PROMPTS`` (text-only
prompts), ``PROMPT_DEPTH``/``N_CTX``; the negatives per image are the dataset's
(``DATASET.FDRD.NUM_CATEGORY_NEGATIVES``/``NUM_ATTRIBUTE_NEGATIVES``).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from PIL import Image
from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY
from engine import distributed as dist
from evaluation.items import RetrievalItem, check_items

from ..clip_driver import encode_image
from ..prompted import PromptedLearner, PromptedRetrievalTrainer
from ..prompting import Prompts
from .caa import CAA
from .dtr import BLANKS, SOURCES, TEST_WEIGHTS, DTRSettings, TextTower, TokenReweighter
from .losses import category_loss, category_weights


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 2  # k, §2.2
    c.CTX_INIT = "a photo of a"  # the first k tokens initialise the context; "" = random
    c.PROMPT_DEPTH = 9  # J
    c.VISUAL_PROMPTS = True  # False: text-only prompts (ablation 6)
    c.PREC = "amp"  # fp32 on CPU
    c.LOSS = "symmetric"  # L_con: symmetric or i2t
    c.DTR = CN()
    c.DTR.ENABLED = True
    c.DTR.S_MODE = "word"  # word | contextual | patch
    c.DTR.PATCH_POOL = "max"  # patch mode: max | mean over the patches
    c.DTR.BLANK = "white"  # white | mean
    c.DTR.SOURCE = "frozen"  # frozen CLIP, once | current prompted encoders, recomputed during training
    c.DTR.REFRESH = 0  # SOURCE current: recompute every N optimisation steps; 0 = at the start of each epoch
    c.DTR.BETA = 0.5  # strength; 0 = every weight 1
    c.DTR.NOISE_FLOOR = 0.0  # tau (cosine units) added to |dS| and to its caption mean; 0 = plain normalisation
    c.DTR.W_MIN = 0.5
    c.DTR.W_MAX = 2.0
    c.DTR.TEST_WEIGHTS = "none"  # none: weight 1 at test | blank: weights from S(token, blank) alone
    c.CATE = CN()
    c.CATE.LAMBDA = 1.0  # 0 switches the L_cate branch off
    c.CATE.ALPHA = 0.5  # category-matching weight w = 1 + alpha
    c.CATE.WEIGHT_MODE = "denominator"  # denominator | logit_bias | loss_weight
    c.CAA = CN()
    c.CAA.TYPE = "adapter"  # adapter | attention | none
    c.CAA.HIDDEN = 128
    c.CAA.RATIO = 0.2  # rho
    c.CAA.AT_TEST = False  # True: retrieval encodes captions through CAA too
    cfg.TRAINER.DCAR = c


class DCARLearner(PromptedLearner):
    """Everything DCAR trains: the dual prompts (with coupling functions) and the CAA module."""

    def __init__(self, clip_model: nn.Module, c: Any) -> None:
        super().__init__(clip_model, c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT, c.VISUAL_PROMPTS)
        dim = clip_model.text_projection.shape[1]
        self.caa = None if c.CAA.TYPE == "none" or c.CATE.LAMBDA == 0 else CAA(dim, c.CAA.TYPE, c.CAA.HIDDEN, c.CAA.RATIO)


@TRAINER_REGISTRY.register()
class DCAR(PromptedRetrievalTrainer):
    """MaPLe's prompted step plus DTR on the positives and the category branch (L_cate)."""

    CONFIG_NODE = "DCAR"

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        c = self.node(cfg).DTR
        for key, allowed in (("BLANK", BLANKS), ("SOURCE", SOURCES), ("TEST_WEIGHTS", TEST_WEIGHTS)):
            if c[key] not in allowed:
                raise ValueError(f"TRAINER.DCAR.DTR.{key} must be one of {allowed}, got {c[key]!r}")
        if c.REFRESH < 0:
            raise ValueError(f"TRAINER.DCAR.DTR.REFRESH must be >= 0 (0 = each epoch), got {c.REFRESH}")
        self.reweighter = TokenReweighter(DTRSettings.from_cfg(c))

    def prompt_shape(self) -> tuple[int, int, bool]:
        c = self.node()
        return c.N_CTX, c.PROMPT_DEPTH, c.VISUAL_PROMPTS

    def build_learner(self, clip_model: nn.Module) -> DCARLearner:
        return DCARLearner(clip_model, self.node())

    # ---------------------------------------------------------------- data prepared once
    def training_strings(self, item: Any) -> tuple[str, ...]:
        return (item.caption, *self.negatives_of(item))

    def prepare_training_data(self) -> None:
        """Token ids of every training caption and negative, and the frozen-CLIP DTR weights (the
        ``current`` source computes them during training, :meth:`refresh_dtr_weights`)."""
        items = self.train_loader_x.dataset.data_source
        check_items(items, "DCAR training data")
        super().prepare_training_data()
        self.frozen_text_tower = TextTower(self.clip, self.precision.autocast)
        c = self.node().DTR
        self.dtr_weights = self.compute_dtr_weights(items) if c.ENABLED and c.SOURCE == "frozen" else None

    def negatives_of(self, item: RetrievalItem) -> tuple[str, ...]:
        """The negatives the category branch encodes for ``item``: category swaps, then attribute swaps."""
        if self.node().CATE.LAMBDA == 0:
            return ()
        return (*item.negatives_category, *item.negatives_attribute)

    # ---------------------------------------------------------------- DTR (§3)
    def blank_image(self) -> torch.Tensor:
        """The blank image [1, 3, H, W] of ``DTR.BLANK``: white through the test preprocessing, or
        the all-zero normalised tensor (the mean colour)."""
        size = tuple(self.cfg.INPUT.SIZE)
        if self.node().DTR.BLANK == "white":
            return self.test_loader.dataset.transform(Image.new("RGB", (size[1], size[0]), (255, 255, 255)))[None]
        return torch.zeros(1, 3, *size)

    def dtr_towers(self, prompts: Prompts | None) -> tuple[TextTower, Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
        """What S reads -- the text tower, the image encoder and the blank image's unit features --
        from the frozen CLIP (``prompts`` None) or from the prompted encoders."""
        if prompts is None and not self.reweighter.patches:
            text, image = self.frozen_text_tower, self.frozen_image
        else:
            shallow, deep = (None, ()) if prompts is None else (prompts.shallow_visual, prompts.deep_visual)
            text = self.frozen_text_tower if prompts is None else TextTower(self.clip, self.precision.autocast, prompts)

            def image(images: torch.Tensor) -> torch.Tensor:
                with torch.no_grad(), self.precision.autocast():
                    return encode_image(self.clip, images.to(self.device), shallow, deep, self.reweighter.patches).float()
        return text, image, nn.functional.normalize(image(self.blank_image()), dim=-1)[0]

    @torch.no_grad()
    def compute_dtr_weights(self, items: list, prompts: Prompts | None = None) -> torch.Tensor:
        """[N, 77] token weights of each training pair (§3) from the frozen CLIP, or from the
        encoders with ``prompts``; the images are encoded in chunks (patch features are large)."""
        c = self.node().DTR
        text, image, blank = self.dtr_towers(prompts)
        tfm, chunk, parts = self.test_loader.dataset.transform, 4096, []
        source = "frozen" if prompts is None else "current"
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            feats = self.encode_items(part, tfm, image, f"DTR: {source} image features")
            parts.append(self.reweighter.weights([it.caption for it in part], text,
                                                 nn.functional.normalize(feats, dim=-1), blank, reserved=self.k))
        weights = torch.cat(parts)
        changed = weights[:, 1:] != 1
        mean = weights[:, 1:][changed].mean().item() if changed.any() else 1.0
        print(f"DTR ({self.reweighter.s.mode} similarity, {c.BLANK} blank, {source} encoders): weights for "
              f"{len(items):,} pairs, mean {mean:.3f} over re-weighted tokens")
        return weights

    def refresh_dtr_weights(self) -> None:
        """``DTR.SOURCE current``: recompute the weights with the current prompts when due (the
        first step, then every ``REFRESH`` steps or at each epoch's first step)."""
        c = self.node().DTR
        if not c.ENABLED or c.SOURCE != "current":
            return
        step = self.epoch * self.num_batches + self.batch_idx
        due = step % c.REFRESH == 0 if c.REFRESH else self.batch_idx == 0
        if self.dtr_weights is None or due:
            with torch.no_grad():
                self.dtr_weights = self.compute_dtr_weights(self.train_loader_x.dataset.data_source, self.learner())

    def test_prompts(self) -> Prompts | None:
        """The prompts of the towers test-time DTR weights come from (None: the frozen CLIP)."""
        return self.learner() if self.node().DTR.SOURCE == "current" else None

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        """Retrieval's caption features: weights 1 and no CAA, unless ``DTR.TEST_WEIGHTS blank``
        (weights from the blank image alone) or ``CAA.AT_TEST``."""
        c = self.node()
        weights = None
        if c.DTR.TEST_WEIGHTS == "blank":
            text, _, blank = self.dtr_towers(self.test_prompts())
            weights = self.reweighter.weights(captions, text, None, blank, reserved=self.k).to(self.device)
        with self.precision.autocast():
            feats = self.prompted_text(self.learner(), self.tokenize(captions, reserved=self.k), weights).float()
        if c.CAA.AT_TEST and self.learner.caa is not None:
            feats = self.learner.caa(nn.functional.normalize(feats, dim=-1)[:, None])[:, 0]
        return feats

    # ---------------------------------------------------------------- training step
    def forward_backward(self, batch: dict) -> dict[str, float]:
        """One step on this process's part of the global batch. L_con is computed over the global
        batch (:meth:`global_contrastive_loss`); L_cate is per image, so its local mean is weighted
        by the local share of the batch."""
        c = self.node()
        data = self.train_loader_x.dataset.data_source
        idx = batch["index"].tolist()
        items = [data[i] for i in idx]
        labels = batch["label"].to(self.device)
        self.refresh_dtr_weights()
        with self.precision.autocast():
            prompts = self.train_learner()
            img = self.step_image_features(prompts, batch)
            weights = self.dtr_weights[idx].to(self.device) if self.dtr_weights is not None else None
            pos = self.prompted_text(prompts, self.ids_for([it.caption for it in items]), weights)
            loss_con, global_batch = self.global_contrastive_loss(img, pos, idx, c.LOSS)
            objective, summary = loss_con * dist.world_size(), {"loss_con": loss_con.item()}
            if c.CATE.LAMBDA > 0:
                loss_cate = self.category_branch(prompts, items, img, pos if weights is None else None, labels)
                share = len(items) * dist.world_size() / global_batch
                objective = objective + c.CATE.LAMBDA * share * loss_cate
                summary["loss_cate"] = sum(v * n for v, n in dist.per_rank((loss_cate.item(), len(items)))) / global_batch
        loss = summary["loss_con"] + c.CATE.LAMBDA * summary.get("loss_cate", 0.0)
        self.optimisation_step(objective, logged=loss)
        return {"loss": loss, **summary}

    def category_branch(self, prompts: Prompts, items: list, img: torch.Tensor, pos_unweighted: torch.Tensor | None,
                        labels: torch.Tensor) -> torch.Tensor:
        """L_cate: the positive and its negatives through the prompted text encoder (weights 1),
        the CAA module, category-matching weights (§4.2-4.4)."""
        c = self.node().CATE
        negs = [self.negatives_of(it) for it in items]
        width = 1 + max((len(n) for n in negs), default=0)
        strings = [] if pos_unweighted is not None else [it.caption for it in items]
        strings += [s for n in negs for s in n]
        feats = self.prompted_text(prompts, self.ids_for(strings)) if strings else None
        if pos_unweighted is not None:
            pos_feats, neg_feats = pos_unweighted, feats
        else:
            pos_feats, neg_feats = feats[: len(items)], feats[len(items):]
        cands = img.new_zeros(len(items), width, pos_feats.shape[-1], dtype=torch.float32)
        valid = torch.zeros(len(items), width, dtype=torch.bool, device=self.device)
        cand_labels = torch.full((len(items), width), -1, dtype=torch.long, device=self.device)
        cands[:, 0], valid[:, 0], cand_labels[:, 0] = pos_feats.float(), True, labels
        # negatives in one scatter: row b, slot 1 + j; attribute swaps (after the category swaps) keep the class
        b_idx = [b for b, n in enumerate(negs) for _ in n]
        slot = [1 + j for n in negs for j in range(len(n))]
        keeps_class = [j >= len(it.negatives_category) for it, n in zip(items, negs) for j in range(len(n))]
        if b_idx:
            rows = torch.tensor(b_idx, device=self.device)
            cols = torch.tensor(slot, device=self.device)
            cands[rows, cols] = neg_feats.float()
            valid[rows, cols] = True
            cand_labels[rows, cols] = torch.where(torch.tensor(keeps_class, device=self.device), labels[rows], -1)
        cands = nn.functional.normalize(cands, dim=-1)
        if self.learner.caa is not None:
            cands = self.learner.caa(cands, valid)
        weights = category_weights(cand_labels, labels, c.ALPHA)
        return category_loss(img, cands, valid, weights, self.logit_scale, c.WEIGHT_MODE)
