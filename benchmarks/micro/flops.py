"""Model FLOPs of a training step or an evaluation pass, counted analytically from the calls a
trainer makes to CLIP's encoders (recorded by :class:`FlopRecorder` through the encoders'
observer hook, :func:`trainers.clip_driver.observe_encoders`).

A transformer layer of width W on a sequence of L tokens costs, counting a multiply-add as 2:
forward ``2 L 12 W^2`` (qkv, output projection, 4x MLP) plus ``4 L^2 W`` (scores and weighted
sum); its backward to the inputs (CLIP's weights are frozen, so no weight gradients) the same
linear cost plus twice the attention cost. *Useful* text tokens stop at each caption's
end-of-text token; *executed* tokens are what the encoder actually ran (padding included).
Image tokens are CLS + patches + visual prompts. Prompts, coupling functions and adapters are
below 0.1% of a step and are not counted.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
from torch import nn

from trainers.clip_driver import EncoderCall, length_groups, observe_encoders


def layer_flops(tokens: int, width: int, backward: bool) -> float:
    linear, attention = 24.0 * tokens * width * width, 4.0 * tokens * tokens * width
    return linear + attention + ((linear + 2 * attention) if backward else 0.0)


def tower_flops(lengths: Sequence[int], width: int, layers: int, out_dim: int, backward: bool) -> float:
    """A transformer tower over sequences of the given lengths, plus the projection of one token each."""
    per_seq = sum(layer_flops(n, width, backward) for n in lengths) * layers
    return per_seq + len(lengths) * 2.0 * width * out_dim * (2 if backward else 1)


@dataclass
class FlopRecorder:
    """Adds up the FLOPs of the encoder calls it observes (of the CLIP model ``clip``)."""

    clip: nn.Module
    useful: float = 0.0
    executed: float = 0.0
    calls: list[str] = field(default_factory=list)

    def _text(self, x: torch.Tensor, eot: torch.Tensor, trim: bool, overhead: int | None, out: torch.Tensor) -> None:
        m, back = self.clip, out.requires_grad
        width, layers, dim = m.ln_final.weight.shape[0], len(m.transformer.resblocks), m.text_projection.shape[1]
        lengths = (eot + 1).tolist()
        if not trim:
            run = [x.shape[1]] * len(lengths)
        elif overhead is None:
            run = [max(lengths)] * len(lengths)
        else:
            run = [max(lengths[i] for i in g) for g in length_groups(lengths, overhead) for _ in g]
        self.useful += tower_flops(lengths, width, layers, dim, back)
        self.executed += tower_flops(run, width, layers, dim, back)
        self.calls.append(f"text x{len(lengths)}{' +grad' if back else ''}")

    def _image(self, images: torch.Tensor, prompts: int, out: torch.Tensor) -> None:
        v, back = self.clip.visual, out.requires_grad
        width, patch = v.conv1.out_channels, v.conv1.kernel_size[0]
        grid = (images.shape[-1] // patch) ** 2
        tokens = [1 + grid + prompts] * len(images)
        conv = 2.0 * grid * 3 * patch * patch * width * len(images)
        flops = conv + tower_flops(tokens, width, len(v.transformer.resblocks), v.proj.shape[1], back)
        self.useful += flops
        self.executed += flops
        self.calls.append(f"image x{len(images)}{' +grad' if back else ''}")

    def _observe(self, call: EncoderCall) -> None:
        if call.kind == "text":
            self._text(call.inputs, call.eot, call.trim, call.group_overhead, call.output)
        else:
            self._image(call.inputs, call.prompts, call.output)

    @contextlib.contextmanager
    def recording(self) -> Iterator["FlopRecorder"]:
        """Count every encoder call made inside the ``with`` block."""
        with observe_encoders(self._observe):
            yield self


def matmul_flops_per_s(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 3) -> float:
    """The machine's dense matmul throughput: best of ``repeats`` n x n products."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best

