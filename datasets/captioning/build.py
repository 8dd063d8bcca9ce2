"""The caption builder (docs/captioning.md): images of a new domain in, a caption file in FDRD's
released schema out, by the construction pipeline of the paper's Fig. 3 -- a VLM describes each
image from a question template, a reviewer VLM checks the draft and sends feedback, the text is
post-processed (noise, repeats, the subcategory name, the token budget) -- resumable and counted.

    python -m datasets.fdrd build-captions --images DIR --domain "My birds" --out birds_train.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from PIL import Image as PILImage
from tqdm import tqdm

from engine.writes import write_atomic
from reporting.cli import bad_input

from .backends import DEFAULT_MODEL, VLM, BackendUnavailable, Request, build_backend
from .postprocess import BUDGET, SCHEMAS, Outcome, finalise
from .prompts import Prompts
from .report import quality_report, render_report
from .store import WorkFile, write_caption_file

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")
DEFAULT_PROMPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "configs", "captioning", "fdrd.yaml")


class InputError(ValueError):
    pass


@dataclass(frozen=True)
class Image:
    """One image to caption: its key and path relative to the image root, and its subcategory."""

    key: str
    path: str
    subcategory: str


def images_from_folder(root: str) -> list[Image]:
    """``root/<subcategory>/<image>`` (the ImageFolder layout)."""
    out = []
    for cls in sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))):
        for name in sorted(os.listdir(os.path.join(root, cls))):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                rel = f"{cls}/{name}"
                out.append(Image(rel, rel, cls))
    if not out:
        raise InputError(f"{root}: no images in class folders (expected {root}/<subcategory>/<image>)")
    return out


def images_from_split(path: str, splits: Sequence[str]) -> list[Image]:
    """A CoOp split file (``{"train": [[image, label, class], ...], "val": ..., "test": ...}``)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = []
    for split in splits:
        if split not in data:
            raise InputError(f"{path}: no split {split!r} (it has {sorted(data)})")
        for i, row in enumerate(data[split]):
            if not (isinstance(row, list) and len(row) == 3):
                raise InputError(f"{path}: {split}[{i}] is not [image, label, class]")
            out.append(Image(row[0], row[0], str(row[2])))
    return out


def images_from_list(path: str) -> list[Image]:
    """A CSV with columns ``image`` (relative to the image root) and ``class``."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for i, row in enumerate(rows, 2):
        if not row.get("image") or not row.get("class"):
            raise InputError(f"{path}: line {i} needs both an 'image' and a 'class' value")
        out.append(Image(row["image"], row["image"], row["class"]))
    return out


@dataclass
class Job:
    """One image in flight: its latest text, outcome and history."""

    image: Image
    attempt: int = 0
    text: str = ""
    outcome: Outcome | None = None
    review_rounds: int = 0
    accepted: bool | None = None
    rejections: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)


class Builder:
    """Describe, review, post-process a batch; see :func:`main` for the settings."""

    def __init__(self, captioner: VLM, reviewer: VLM | None, prompts: Prompts, dataset: str, image_root: str,
                 schema: str, generic_nouns: tuple[str, ...] = (), class_names: str = "spaces", review_rounds: int = 2,
                 retries: int = 2, max_tokens: int = BUDGET) -> None:
        self.captioner, self.reviewer, self.prompts, self.dataset = captioner, reviewer, prompts, dataset
        self.image_root, self.schema, self.generic_nouns = image_root, schema, generic_nouns
        self.class_names, self.review_rounds, self.retries = class_names, review_rounds, retries
        self.max_tokens = max_tokens

    def name(self, img: Image) -> str:
        return img.subcategory.replace("_", " ") if self.class_names == "spaces" else img.subcategory

    def request(self, job: Job, role: str = "describe") -> Request:
        img, sub = job.image, self.name(job.image)
        if role == "review":
            prompt = self.prompts.review(self.dataset, sub, job.text)
        elif job.feedback:
            prompt = self.prompts.revision(self.dataset, sub, job.text, job.feedback[-1])
        else:
            prompt = self.prompts.question(self.dataset, sub)
        return Request(img.key, os.path.join(self.image_root, img.path), self.dataset, sub, prompt, role,
                       job.text if role == "review" else "", job.feedback[-1] if job.feedback else "", job.attempt)

    def describe(self, jobs: list[Job]) -> None:
        for job, text in zip(jobs, self.captioner.answer([self.request(j) for j in jobs])):
            job.text = text

    def review(self, jobs: list[Job]) -> None:
        """Up to ``review_rounds`` rounds: drafts the reviewer does not accept are revised with its feedback."""
        for _ in range(self.review_rounds if self.reviewer else 0):
            pending = [j for j in jobs if j.accepted is not True]
            if not pending:
                return
            verdicts = self.reviewer.answer([self.request(j, "review") for j in pending])
            revise = []
            for job, verdict in zip(pending, verdicts):
                job.review_rounds += 1
                job.accepted = verdict.strip().upper().startswith(self.prompts.accept.upper())
                if not job.accepted:
                    job.feedback.append(verdict.split(":", 1)[-1].strip() or verdict.strip())
                    job.attempt += 1
                    revise.append(job)
            if revise:
                self.describe(revise)
        # a last revision is not reviewed again: it stays "not accepted" in the report

    def unreadable(self, img: Image) -> str:
        """Why the image cannot be decoded, or "" (a corrupt file fails its record, not the build)."""
        try:
            with PILImage.open(os.path.join(self.image_root, img.path)) as im:
                im.load()
        except Exception as e:  # PIL raises many kinds for a damaged file (OSError, SyntaxError, bomb errors ...)
            return f"unreadable image ({type(e).__name__}: {' '.join(str(e).split())[:200]})"
        return ""

    def run(self, images: list[Image]) -> list[dict]:
        """Caption a batch; one work-file record per image. An image that cannot be decoded gets a
        failed record (named in the report, not asked again on a rerun unless ``--retry-failed``)."""
        problems = {img.key: why for img in images if (why := self.unreadable(img))}
        records = [{"key": img.key, "entry": None, "failed": problems[img.key],
                    "build": {"attempts": 0, "rejections": [], "repairs": [], "review_rounds": 0,
                              "accepted_by_reviewer": None, "feedback": []}} for img in images if img.key in problems]
        jobs = [Job(img) for img in images if img.key not in problems]
        todo = jobs
        for attempt in range(1 + self.retries):
            if not todo:
                break
            if attempt:
                for job in todo:
                    job.attempt += 1
                    job.feedback, job.accepted = [], None
            self.describe(todo)
            self.review(todo)
            again = []
            for job in todo:
                job.outcome = finalise(job.text, self.name(job.image), self.schema, self.generic_nouns, self.max_tokens)
                if job.outcome.caption is None:
                    job.rejections.append(job.outcome.rejected)
                    again.append(job)
            todo = again
        for job in jobs:
            img, o = job.image, job.outcome
            build = {"attempts": job.attempt + 1, "rejections": job.rejections, "repairs": o.repairs,
                     "review_rounds": job.review_rounds, "accepted_by_reviewer": job.accepted,
                     "feedback": job.feedback}
            entry = None if o.caption is None else {
                "file_name": os.path.basename(img.path), "class_name": img.subcategory, "file_path": img.path,
                "positive": o.caption, "negative": []}
            records.append({"key": img.key, "entry": entry, "build": build,
                            "failed": "" if o.caption is not None else o.rejected})
        return records


def main(argv: Sequence[str] | None = None, prog: str = "python -m datasets.fdrd build-captions") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", metavar="DIR", help="images in class folders: DIR/<subcategory>/<image>")
    src.add_argument("--split-file", metavar="F", help="a CoOp split file (split_zhou_*.json); see --split")
    src.add_argument("--image-list", metavar="CSV", help="a CSV with columns image (relative to --image-root) and class")
    p.add_argument("--split", nargs="+", default=["train", "val"], help="splits of --split-file to caption")
    p.add_argument("--image-root", default="", help="folder the image paths are relative to (default: --images, or "
                                                     "the folder of --split-file / --image-list)")
    p.add_argument("--domain", required=True, help="the dataset's name, as the prompts say it (e.g. 'Oxford Pets')")
    p.add_argument("--out", required=True, help="the caption file to write (FDRD schema, JSON)")
    p.add_argument("--backend", choices=("transformers", "synth"), default="transformers")
    p.add_argument("--model", default=DEFAULT_MODEL, help="captioner: a Hugging Face model name or local folder")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="run the Python code a model ships (its config's auto_map; the default InternLM model needs it): "
                        "only for a model whose publisher you trust")
    p.add_argument("--reviewer", default="", help="reviewer VLM ('same' = the captioner; default: no review)")
    p.add_argument("--review-rounds", type=int, default=2,
                   help="review rounds per draft (a draft revised in the last round is not reviewed again)")
    p.add_argument("--retries", type=int, default=2, help="new descriptions for a draft post-processing rejects")
    p.add_argument("--prompts", default=DEFAULT_PROMPTS, help="question templates and rubric (YAML)")
    p.add_argument("--schema", choices=SCHEMAS, default="photo",
                   help='how the subcategory name goes in: "This is a photo of NAME.", "This is a NAME.", or inline')
    p.add_argument("--generic-nouns", nargs="*", default=[], help="inline schema: nouns the name may replace (cat dog)")
    p.add_argument("--class-names", choices=("spaces", "raw"), default="spaces", help="underscores as spaces, or raw")
    p.add_argument("--max-tokens", type=int, default=BUDGET - 2,
                   help=f"token budget of a caption: CLIP's {BUDGET} minus the prompt's context tokens (DCAR: 2)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=160)
    p.add_argument("--prec", default="amp", help="fp32 | amp | bf16 | fp16 (fp32 on CPU)")
    p.add_argument("--limit", type=int, default=0, help="caption at most this many images (a trial run)")
    p.add_argument("--retry-failed", action="store_true", help="caption again the images a previous run gave up on")
    p.add_argument("--synth-folder", default="", help="synth backend: the generated FDRDSynth folder")
    p.add_argument("--synth-noise", type=float, default=0.1, help="synth backend: share of faulty first drafts")
    p.add_argument("--synth-delay", type=float, default=0.0, help="synth backend: seconds per call (a slow model)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    try:
        return build(a)
    except (InputError, BackendUnavailable, ValueError, OSError) as e:
        return bad_input(e)


def build(a: argparse.Namespace) -> int:
    if a.images:
        images, root = images_from_folder(a.images), a.image_root or a.images
    elif a.split_file:
        images, root = images_from_split(a.split_file, a.split), a.image_root or os.path.dirname(a.split_file)
    else:
        images, root = images_from_list(a.image_list), a.image_root or os.path.dirname(a.image_list)
    missing = [img.path for img in images if not os.path.isfile(os.path.join(root, img.path))]
    if missing:
        raise InputError(f"{len(missing)} of {len(images)} images are not under {root} (first: {missing[0]}); "
                         "set --image-root to the folder the paths are relative to")
    dup = [k for k, n in Counter(img.key for img in images).items() if n > 1]
    if dup:
        raise InputError(f"{len(dup)} images are listed twice (first: {dup[0]}); every image needs one caption")
    prompts = Prompts.load(a.prompts)
    work = WorkFile(a.out)
    done = work.load()
    if a.retry_failed:
        done = {k: r for k, r in done.items() if r["entry"] is not None}
    todo = [img for img in images if img.key not in done]
    if a.limit:
        todo = todo[: max(0, a.limit - len(done))]
    print(f"{len(images):,} images; {len(done):,} finished in {work.path}"
          + (f" ({work.torn} torn last line dropped, redone)" if work.torn else "") + f"; {len(todo):,} to caption now")
    if todo:
        captioner = build_backend(a.backend, a.model, a.prec, a.synth_folder, a.synth_noise, a.seed, a.max_new_tokens,
                                  a.synth_delay, a.trust_remote_code)
        reviewer = None
        if a.reviewer:
            reviewer = captioner if a.reviewer == "same" else build_backend(
                a.backend, a.reviewer, a.prec, a.synth_folder, 0.0, a.seed, a.max_new_tokens, a.synth_delay,
                a.trust_remote_code)
        builder = Builder(captioner, reviewer, prompts, a.domain, root, a.schema, tuple(a.generic_nouns), a.class_names,
                          a.review_rounds, a.retries, a.max_tokens)
        with tqdm(total=len(done) + len(todo), initial=len(done), desc="captions", unit="img") as bar:
            for b in range(0, len(todo), a.batch_size):
                batch = todo[b:b + a.batch_size]
                records = builder.run(batch)
                work.append(records)
                done.update((r["key"], r) for r in records)
                bar.update(len(batch))
    finished = [done[img.key] for img in images if img.key in done]
    entries = {r["key"]: r["entry"] for r in finished if r["entry"] is not None}
    complete = len(finished) == len(images)
    report = quality_report(finished, len(images), a.max_tokens)
    write_caption_file(a.out, entries)
    for path, text in ((f"{a.out}.report.json", json.dumps(report, indent=1)), (f"{a.out}.report.md", render_report(report))):
        write_atomic(path, text + "\n")
    print(render_report(report))
    print(f"{len(entries):,} captions written to {a.out} ({'complete' if complete else 'partial: rerun to continue'}); "
          f"report in {a.out}.report.md")
    return 0
