"""Prompted retrieval: a frozen CLIP with learned prompts, trained with L_con (docs/method.md §2,
§5). The shared ground of CoOp, MaPLe and DCAR: each extends :class:`PromptedRetrievalTrainer`
with its own config node (``CONFIG_NODE``) and says how many context tokens, how deep and
whether the image side gets prompts.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from datasets.text import tokenize
from engine import distributed as dist

from .clip_driver import assemble_text, encode_image
from .configs import fit_hint
from .prompting import DualPromptLearner, Prompts
from .retrieval import RetrievalTrainer


class PromptedLearner(nn.Module):
    """What a prompted trainer trains: the dual prompts (with their coupling functions)."""

    def __init__(self, clip_model: nn.Module, n_ctx: int, depth: int, ctx_init: str, visual: bool) -> None:
        super().__init__()
        self.prompts = DualPromptLearner(clip_model, n_ctx, depth, ctx_init, visual)

    def forward(self) -> Prompts:
        return self.prompts()


class PromptedRetrievalTrainer(RetrievalTrainer):
    """Prompts on a frozen CLIP, one L_con step per batch. Subclasses set ``CONFIG_NODE`` (whose
    ``N_CTX``, ``CTX_INIT``, ``PROMPT_DEPTH``, ``LOSS`` and ``PREC`` they read) and may override
    :meth:`prompt_shape`."""

    def prompt_shape(self) -> tuple[int, int, bool]:
        """(context tokens, prompted layers, visual prompts)."""
        c = self.node()
        return c.N_CTX, c.PROMPT_DEPTH, True

    def build_model(self) -> None:
        clip_model = self.build_frozen_clip()
        try:
            self.learner = self.build_learner(clip_model).to(self.device)
        except ValueError as e:  # prompts that do not fit this backbone: name the config that does
            raise ValueError(f"{e} (TRAINER.{self.CONFIG_NODE}, backbone {self.cfg.MODEL.BACKBONE.NAME}). "
                             f"{fit_hint(self.cfg)}") from None
        self.register_trainable("prompt_learner", self.learner)
        self.train_learner = self.parallel(self.learner)
        self.prepare_training_data()

    def build_learner(self, clip_model: nn.Module) -> PromptedLearner:
        n_ctx, depth, visual = self.prompt_shape()
        return PromptedLearner(clip_model, n_ctx, depth, self.node().CTX_INIT, visual)

    # ---------------------------------------------------------------- data prepared once
    def training_strings(self, item: Any) -> tuple[str, ...]:
        """The strings a training item brings to the text encoder (its caption)."""
        return (item.caption,)

    def prepare_training_data(self) -> None:
        """Token ids of every training string, tokenized once."""
        items = self.train_loader_x.dataset.data_source
        self.k = self.prompt_shape()[0]
        strings = list(dict.fromkeys(s for it in items for s in self.training_strings(it)))
        ids, truncated = tokenize(strings, reserved=self.k)
        self.row_of = {s: i for i, s in enumerate(strings)}
        self.train_ids = ids
        print(f"Training strings: {len(strings):,} unique ({truncated} truncated to fit "
              f"{77 - 2 - self.k} tokens, end-of-text kept)")

    def ids_for(self, strings: list[str]) -> torch.Tensor:
        return self.train_ids[[self.row_of[s] for s in strings]].to(self.device)

    # ---------------------------------------------------------------- encoders
    def prompted_text(self, prompts: Prompts, ids: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return self.text_transformer(*assemble_text(self.clip, ids, prompts.ctx, weights), prompts.deep_text)

    def prompted_image(self, prompts: Prompts, images: torch.Tensor) -> torch.Tensor:
        return encode_image(self.clip, images, prompts.shallow_visual, prompts.deep_visual)

    def image_tower_is_frozen(self) -> bool:
        return not self.prompt_shape()[2]

    def image_tower(self, images: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            return self.prompted_image(self.learner(), images).float()

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        with self.precision.autocast():
            return self.prompted_text(self.learner(), self.tokenize(captions, reserved=self.k)).float()

    def step_image_features(self, prompts: Prompts, batch: dict) -> torch.Tensor:
        """The batch's image features for this step (from the cache when the image side is frozen)."""
        if self.image_tower_is_frozen():
            return self.train_image_tower(batch)
        return self.prompted_image(prompts, batch["img"].to(self.device))

    # ---------------------------------------------------------------- training step
    def forward_backward(self, batch: dict) -> dict[str, float]:
        """One L_con step over the global batch (:meth:`global_contrastive_loss`)."""
        data = self.train_loader_x.dataset.data_source
        idx = batch["index"].tolist()
        with self.precision.autocast():
            prompts = self.train_learner()
            img = self.step_image_features(prompts, batch)
            pos = self.prompted_text(prompts, self.ids_for([data[i].caption for i in idx]))
            loss_con, _ = self.global_contrastive_loss(img, pos, idx, self.node().LOSS)
        loss = loss_con.item()
        self.optimisation_step(loss_con * dist.world_size(), logged=loss)
        return {"loss": loss, "loss_con": loss}
