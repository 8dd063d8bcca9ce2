"""Vision-language backends of the caption builder behind one small interface (docs/captioning.md):
``answer(requests) -> texts``, one text per (image, prompt) request. The builder uses a backend as
the captioner (``role`` "describe") and as the reviewer (``role`` "review").

* :class:`TransformersVLM`: an instruction-following VLM from Hugging Face ``transformers``,
  loaded lazily on first use, batched, on the GPU when there is one, in the project's precision
  policy (``engine/precision.py``): any ``AutoModelForImageTextToText`` model with a chat template,
  by name or local folder; models that ship their own ``chat`` method as remote code
  (InternLM-XComposer2.5, the default) are driven through it one image at a time. A model's own
  Python runs only with ``trust_remote_code`` (the builder's ``--trust-remote-code``), off by default.
* :class:`SynthVLM`: FDRDSynth's built-in backend. It describes a render from the generator's
  ground truth in varied wording, with a chosen rate of the faults real VLMs make (refusals,
  repeated sentences, a wrong attribute, rambling), and reviews a caption against the ground truth,
  so the whole pipeline runs end to end on a CPU.
"""
from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import dataclass
from typing import Protocol, Sequence

DEFAULT_MODEL = "internlm/internlm-xcomposer2d5-7b"
ROLES = ("describe", "review")


@dataclass(frozen=True)
class Request:
    """One question about one image. ``caption``: the caption under review (role "review");
    ``attempt`` numbers the descriptions asked for this image (0 first)."""

    key: str
    image: str
    dataset: str
    subcategory: str
    prompt: str
    role: str = "describe"
    caption: str = ""
    feedback: str = ""
    attempt: int = 0


class VLM(Protocol):
    name: str

    def answer(self, requests: Sequence[Request]) -> list[str]:
        """One generated text per request, in order."""


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (a package or the model weights are missing); the message says how to fix it."""


def offline_message(model: str, reason: str) -> str:
    if os.path.isdir(model):
        return (f"cannot load the VLM in the folder {model!r}: {reason}.\nThe folder is not a complete Hugging Face "
                "model (config.json, weights, processor files): copy it again from the machine that downloaded it.")
    return (f"cannot load the VLM {model!r}: {reason}.\n"
            f"This machine has no copy of it and cannot download it. On a machine with internet access run\n"
            f"    hf download {model} --local-dir /path/to/{model.split('/')[-1]}\n"
            f"copy that folder here and pass --model /path/to/{model.split('/')[-1]} (or fill the Hugging Face cache, "
            f"{os.environ.get('HF_HOME', '~/.cache/huggingface')}, and set HF_HUB_OFFLINE=1).")


def remote_code_message(model: str) -> str:
    return (f"the VLM {model!r} ships its own Python code (its config's auto_map), which runs on this machine when the "
            "model loads. It is not run unless you ask: pass --trust-remote-code if you trust the model's publisher "
            "(for the default, InternLM-XComposer2.5, that is the InternLM team's code on the Hugging Face hub), or "
            "use a model that transformers supports natively (an image-text-to-text model with a chat template)")


def _needs_remote_code(error: Exception) -> bool:
    return "trust_remote_code" in str(error)


class TransformersVLM:
    """A Hugging Face VLM, loaded on the first :meth:`answer`. ``trust_remote_code``: run the
    model's own Python (from its folder or hub repo) -- only when the user asked for it."""

    def __init__(self, model: str = DEFAULT_MODEL, prec: str = "amp", use_cuda: bool = True, max_new_tokens: int = 160,
                 trust_remote_code: bool = False) -> None:
        self.name, self.prec, self.use_cuda = model, prec, use_cuda
        self.max_new_tokens, self.trust_remote_code = max_new_tokens, trust_remote_code
        self.model = self.processor = None
        self.own_chat = False  # the model's own chat method (remote code) instead of a chat template

    def load(self) -> None:
        if self.model is not None:
            return
        try:
            import transformers
        except ImportError as e:
            raise BackendUnavailable("the transformers backend needs the transformers package: "
                                     "pip install transformers") from e
        from engine.precision import resolve_device, resolve_precision

        self.device = resolve_device(self.use_cuda)
        dtype = resolve_precision(self.prec, self.device).frozen_dtype
        trust = {"trust_remote_code": self.trust_remote_code}
        try:
            try:
                self.model = transformers.AutoModelForImageTextToText.from_pretrained(self.name, dtype=dtype, **trust)
                self.processor = transformers.AutoProcessor.from_pretrained(self.name, **trust)
                self.processor.tokenizer.padding_side = "left"  # batched generation continues every row at its end
            except ValueError as e:  # no image-text-to-text class: a model with its own chat method (remote code)
                if not self.trust_remote_code:
                    raise BackendUnavailable(remote_code_message(self.name) if _needs_remote_code(e) else
                                             f"{self.name} is not an image-text-to-text model with a chat template "
                                             f"({str(e).splitlines()[0]})") from None
                self.model = transformers.AutoModel.from_pretrained(self.name, dtype=dtype, **trust)
                self.processor = transformers.AutoTokenizer.from_pretrained(self.name, **trust)
                self.model.tokenizer = self.processor  # as the XComposer model card does
                self.own_chat = True
                if not hasattr(self.model, "chat"):
                    raise BackendUnavailable(f"{self.name} is neither an image-text-to-text model with a chat template "
                                             "nor a model with its own chat method") from None
        except OSError as e:
            raise BackendUnavailable(offline_message(self.name, str(e).splitlines()[0])) from e
        self.model.to(self.device).eval()

    def answer(self, requests: Sequence[Request]) -> list[str]:
        import torch
        from PIL import Image

        self.load()
        images = [Image.open(r.image).convert("RGB") for r in requests]
        with torch.inference_mode():
            if self.own_chat:
                return [self.model.chat(self.processor, r.prompt, [r.image], do_sample=False, use_meta=True)[0].strip()
                        for r in requests]
            texts = [self.processor.apply_chat_template(
                [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": r.prompt}]}],
                add_generation_prompt=True) for r in requests]
            inputs = self.processor(images=images, text=texts, return_tensors="pt", padding=True).to(self.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]


class SynthVLM:
    """Describes and reviews FDRDSynth renders from the generator's ground truth (``folder``: a
    generated FDRDSynth folder). ``noise``: the share of first descriptions with a fault."""

    name = "synth"
    FAULTS = ("refusal", "repeat", "wrong attribute", "ramble")

    def __init__(self, folder: str, noise: float = 0.0, seed: int = 0, delay: float = 0.0) -> None:
        from datasets.fdrd.synth import entries
        from datasets.fdrd.synth_world import distinctive_words

        self.truth = {os.path.realpath(path): e["factors"] for split in ("train", "test")
                      for _, _, path, e in entries(folder, split)}
        if not self.truth:
            raise BackendUnavailable(f"{folder} holds no FDRDSynth caption files (python -m datasets.fdrd synth)")
        self.noise, self.seed, self.delay = noise, seed, delay
        self.marks = distinctive_words()  # factor -> value -> the words that say it (for reviews)

    def factors(self, r: Request) -> dict[str, str]:
        try:
            return self.truth[os.path.realpath(r.image)]
        except KeyError:
            raise BackendUnavailable(f"{r.image} is not an image of the FDRDSynth folder the synth backend reads") from None

    def rng(self, r: Request) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}|{r.key}|{r.role}|{r.attempt}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def answer(self, requests: Sequence[Request]) -> list[str]:
        if self.delay:
            time.sleep(self.delay)  # a slow model, to rehearse interruptions
        return [self.review(r) if r.role == "review" else self.describe(r) for r in requests]

    def describe(self, r: Request) -> str:
        from datasets.fdrd.synth_world import FACTOR, FILLER, KINDS, WORLD

        f, rng = dict(self.factors(r)), self.rng(r)
        fault = rng.choice(self.FAULTS) if r.attempt == 0 and not r.feedback and rng.random() < self.noise else ""
        if fault == "refusal":
            return "I'm sorry, but I cannot describe this image."
        if fault == "wrong attribute":
            f["colour"] = rng.choice([v for v in FACTOR["colour"].values if v != f["colour"]])
        kind = next(k for k, subs in WORLD.items() if any(s.name == f["subcategory"] for s in subs))
        noun = next(k.noun for k in KINDS if k.name == kind)
        said = {name: FACTOR[name].downstream[v] for name, v in f.items() if name in FACTOR}
        named = r.subcategory.lower() in r.prompt.lower()
        subject = f"The {f['subcategory']}" if named else f"The {noun}"
        sentences = [rng.choice((f"{subject} is a {said['size']} {said['colour']} {noun}.",
                                 f"{subject} is {said['colour']} and {said['size']}.",
                                 f"A {said['size']} {said['colour']} {noun} is shown.")),
                     rng.choice((f"It is placed {said['position']}.", f"It appears {said['position']}.")),
                     rng.choice((f"It is drawn {said['pattern']}.", f"The {noun} is shown {said['pattern']}.")),
                     rng.choice((f"It is shown {said['background']}.", f"The scene is {said['background']}."))]
        head, tail = sentences[0], sentences[1:]
        rng.shuffle(tail)
        out = [head, *tail, *rng.sample(FILLER, rng.choice((0, 1)))]
        if fault == "repeat":
            out.insert(2, out[1])
        if fault == "ramble":
            out += list(FILLER) + list(FILLER)
        return " ".join(out)

    def review(self, r: Request) -> str:
        """OK, or FIX: naming the first attribute the caption states wrongly."""
        from datasets.text import words

        f, said = self.factors(r), {w for w, _ in words(r.caption)}
        for factor, values in self.marks.items():
            for value, marks in values.items():
                if value != f[factor] and marks & said and not values[f[factor]] & said:
                    return f"FIX: the {factor} is {f[factor]}, not {value}."
        return "OK"


def build_backend(name: str, model: str, prec: str = "amp", synth_folder: str = "", synth_noise: float = 0.0,
                  seed: int = 0, max_new_tokens: int = 160, synth_delay: float = 0.0,
                  trust_remote_code: bool = False) -> VLM:
    """The backend ``name`` (``transformers`` or ``synth``); ``trust_remote_code`` as for :class:`TransformersVLM`."""
    if name == "synth":
        if not synth_folder:
            raise ValueError("the synth backend needs --synth-folder (a generated FDRDSynth folder)")
        return SynthVLM(synth_folder, synth_noise, seed, synth_delay)
    if name == "transformers":
        return TransformersVLM(model, prec, max_new_tokens=max_new_tokens, trust_remote_code=trust_remote_code)
    raise ValueError(f"--backend must be transformers or synth, got {name!r}")
