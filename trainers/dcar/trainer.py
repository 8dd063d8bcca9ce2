"""The DCAR trainer (docs/method.md, "Backbone and dual prompts" to "L_con and the objective"): dual
prompts (the model of ``trainers/model.py``), dynamic token re-weighting of the positives
(``dtr.py``, :class:`DTRSchedule`) and the objective L = L_con + lambda * L_cate (``objective.py``,
:class:`DCARObjective`).

Every component is a switch (``TRAINER.DCAR.*``), so each ablation of docs/method.md, "Ablation rows" is one
config change: ``DTR.ENABLED``, ``CATE.LAMBDA`` (0 = no L_cate branch), ``CATE.ALPHA`` (0 = no
category-matching weight), ``CAA.TYPE`` (``none`` = identity), ``VISUAL_PROMPTS`` (text-only
prompts), ``PROMPT_DEPTH``/``N_CTX``; the negatives per image are the dataset's
(``DATASET.FDRD.NUM_CATEGORY_NEGATIVES``/``NUM_ATTRIBUTE_NEGATIVES``). Every key is checked once,
in :func:`check_dcar_cfg`.
"""
from __future__ import annotations

from typing import Any

from torch import nn
from yacs.config import CfgNode as CN

from engine import TRAINER_REGISTRY, build_transform
from engine.precision import Precision
from evaluation.items import check_items

from ..base import RetrievalTrainer
from ..model import PromptedCLIP, prompted_clip
from ..prompts import prompt_learner
from .dtr import BLANKS, PATCH_POOLS, S_MODES, SOURCES, TEST_WEIGHTS, DTRSchedule
from .objective import CAA, CAA_TYPES, WEIGHT_MODES, CAAHead, DCARObjective


def extend_cfg(cfg: Any) -> None:
    c = CN()
    c.N_CTX = 2  # k, docs/method.md, "Dual prompts"
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


CHOICES = {"DTR.S_MODE": S_MODES, "DTR.PATCH_POOL": PATCH_POOLS, "DTR.BLANK": BLANKS,
           "DTR.SOURCE": SOURCES, "DTR.TEST_WEIGHTS": TEST_WEIGHTS, "CATE.WEIGHT_MODE": WEIGHT_MODES,
           "CAA.TYPE": (*CAA_TYPES, "none")}


def check_dcar_cfg(c: Any) -> None:
    """Every ``TRAINER.DCAR`` key with a set of allowed values or a range, checked (no side effects)."""
    for key, allowed in CHOICES.items():
        group, leaf = key.split(".")
        if c[group][leaf] not in allowed:
            raise ValueError(f"TRAINER.DCAR.{key} must be one of {allowed}, got {c[group][leaf]!r}")
    if c.DTR.REFRESH < 0:
        raise ValueError(f"TRAINER.DCAR.DTR.REFRESH must be >= 0 (0 = each epoch), got {c.DTR.REFRESH}")
    if c.CATE.LAMBDA < 0:
        raise ValueError(f"TRAINER.DCAR.CATE.LAMBDA must be >= 0 (0 = no L_cate), got {c.CATE.LAMBDA}")


@TRAINER_REGISTRY.register()
class DCAR(RetrievalTrainer):
    """MaPLe's prompts plus DTR on the positives and the category branch (L_cate)."""

    def check_cfg(self, cfg: Any) -> None:
        super().check_cfg(cfg)
        check_dcar_cfg(self.node(cfg))

    @classmethod
    def retrieval_model(cls, cfg: Any, clip_model: nn.Module,
                        precision: Precision) -> tuple[PromptedCLIP, dict[str, nn.Module]]:
        """The prompted CLIP and what trains (``prompt_learner``: the prompts and the CAA module);
        with ``CAA.AT_TEST`` the CAA is its text head, with ``DTR.TEST_WEIGHTS blank`` captions
        are weighted at test."""
        c = cfg.TRAINER.DCAR
        prompts = prompt_learner(cfg, cls.CONFIG_NODE, clip_model, c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT, c.VISUAL_PROMPTS)
        caa = None
        if c.CAA.TYPE != "none" and c.CATE.LAMBDA != 0:
            caa = CAA(clip_model.text_projection.shape[1], c.CAA.TYPE, c.CAA.HIDDEN, c.CAA.RATIO).to(precision.device)
        model = prompted_clip(cfg, clip_model, precision, prompts,
                              text_head=CAAHead(caa) if c.CAA.AT_TEST and caa is not None else None)
        if c.DTR.TEST_WEIGHTS == "blank":
            model.test_token_weights = DTRSchedule(cfg, model, build_transform(cfg, is_train=False)).at_test
        trainable = nn.ModuleDict({"prompts": prompts} if caa is None else {"prompts": prompts, "caa": caa})
        return model, {"prompt_learner": trainable}

    def build_model(self) -> None:
        clip_model = self.load_clip()
        model, trainable = self.retrieval_model(self.cfg, clip_model, self.precision)
        c, items = self.node(), self.train_set.data_source
        check_items(items, "DCAR training data")
        learner = trainable["prompt_learner"]
        self.objective = DCARObjective(c, learner["caa"] if "caa" in learner else None)
        self.setup_model(model, trainable, strings=self.objective.training_strings(items))
        self.dtr = DTRSchedule(self.cfg, model, self.test_loader.dataset.transform)
        if model.test_token_weights is not None:  # one schedule: its frozen word features serve training and test
            model.test_token_weights = self.dtr.at_test
        self.dtr.start(items)

    def forward_backward(self, batch: dict) -> dict[str, float]:
        """One step: the positives' token weights (DTR), image and caption features from the model
        under one set of prompts, the objective over the global batch, the optimisation step."""
        idx = batch["index"].tolist()
        data = self.train_set.data_source
        items = [data[i] for i in idx]
        weights = self.dtr.for_step(data, idx, self.epoch * self.num_batches + self.batch_idx, self.batch_idx == 0)
        with self.precision.autocast():
            prompts = self.model.make_prompts()
            img = self.features.train_images(batch, prompts)
            pos = self.model.text_features(self.tokens([it.caption for it in items], self.device), weights, prompts)
            objective, loss, summary = self.objective(
                img, pos, items, batch["label"].to(self.device), self.model.logit_scale,
                lambda strings: self.model.text_features(self.tokens(strings, self.device), prompts=prompts),
                reweighted=weights is not None)
        self.optimisation_step(objective, logged=loss)
        return {"loss": loss, **summary}
