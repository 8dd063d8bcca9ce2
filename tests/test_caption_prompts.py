"""datasets/captioning/prompts.py: the prompt file, its placeholders and its errors."""
import pytest

from datasets.captioning.build import DEFAULT_PROMPTS
from datasets.captioning.prompts import PromptFileError, Prompts


def test_the_shipped_prompts_fill_in():
    p = Prompts.load(DEFAULT_PROMPTS)
    q = p.question("Oxford Pets", "Sphynx")
    assert "Oxford Pets" in q and "Sphynx" in q and "{" not in q
    p2 = Prompts(p.generic, p.category, "generic", p.revise, p.rubric, p.accept)
    assert "Sphynx" not in p2.question("Oxford Pets", "Sphynx")  # the generic template names no class
    revision = p.revision("D", "S", "a draft", "wrong colour")
    assert "a draft" in revision and "wrong colour" in revision
    assert '"my caption"' in p.review("D", "S", "my caption")


def test_errors_name_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("questions:\n  generic: Describe {image}.\n  category: x\nrevise: y\nreviewer:\n  rubric: z\n")
    with pytest.raises(PromptFileError, match=r"p.yaml: questions.generic uses \['image'\]"):
        Prompts.load(str(bad))
    bad.write_text("questions:\n  generic: x\nrevise: y\nreviewer:\n  rubric: z\n")
    with pytest.raises(PromptFileError, match=r"p.yaml: missing entry 'category'"):
        Prompts.load(str(bad))
    bad.write_text("questions:\n  generic: x\n  category: x\nask: both\nrevise: y\nreviewer:\n  rubric: z\n")
    with pytest.raises(PromptFileError, match="'ask' must be one of"):
        Prompts.load(str(bad))
