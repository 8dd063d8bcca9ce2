"""The caption builder's prompts, read from a config file (docs/captioning.md): the two question
templates of the construction pipeline, the revision prompt and the reviewer's rubric."""
from __future__ import annotations

import string
from dataclasses import dataclass

import yaml

FIELDS = {"question": {"dataset", "subcategory"}, "revise": {"dataset", "subcategory", "draft", "feedback"},
          "rubric": {"dataset", "subcategory", "caption"}}
ASK = ("generic", "category")


class PromptFileError(ValueError):
    pass


@dataclass(frozen=True)
class Prompts:
    generic: str
    category: str
    ask: str
    revise: str
    rubric: str
    accept: str

    @classmethod
    def load(cls, path: str) -> Prompts:
        """Read and check ``path``; a missing entry or an unknown placeholder is an error naming both."""
        try:
            with open(path, encoding="utf-8") as f:
                raw = yaml.safe_load(f) or {}
            q, r = raw["questions"], raw["reviewer"]
            p = cls(q["generic"], q["category"], raw.get("ask", "category"), raw["revise"], r["rubric"],
                    r.get("accept", "OK"))
        except (KeyError, TypeError) as e:
            raise PromptFileError(f"{path}: missing entry {e} (see configs/captioning/fdrd.yaml for the layout)") from e
        if p.ask not in ASK:
            raise PromptFileError(f"{path}: 'ask' must be one of {ASK}, got {p.ask!r}")
        for name, text, allowed in (("questions.generic", p.generic, FIELDS["question"]),
                                    ("questions.category", p.category, FIELDS["question"]),
                                    ("revise", p.revise, FIELDS["revise"]), ("reviewer.rubric", p.rubric, FIELDS["rubric"])):
            used = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            if used - allowed:
                raise PromptFileError(f"{path}: {name} uses {sorted(used - allowed)}; allowed placeholders are "
                                      f"{sorted(allowed)} (write a literal brace as {{{{ or }}}})")
        return p

    def question(self, dataset: str, subcategory: str) -> str:
        template = self.category if self.ask == "category" else self.generic
        return template.format(dataset=dataset, subcategory=subcategory)

    def revision(self, dataset: str, subcategory: str, draft: str, feedback: str) -> str:
        return self.revise.format(dataset=dataset, subcategory=subcategory, draft=draft, feedback=feedback)

    def review(self, dataset: str, subcategory: str, caption: str) -> str:
        return self.rubric.format(dataset=dataset, subcategory=subcategory, caption=caption)
