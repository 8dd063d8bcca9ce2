"""The repository stands alone: every documentation page a docstring, comment or page names
(``docs/*.md``, or an upper-case name such as ``README.md``) exists in it. Names on a line with a
URL point elsewhere; lower-case names such as ``table.md`` are output files."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_DIRS = {".git", ".venv", "output", "data", "__pycache__", ".pytest_cache"}
REFERENCE = re.compile(r"(?<![\w/.:<-])(docs/[\w-]+\.md|[A-Z][A-Z_]+\.md)\b")


def project_files():
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".venv")]
        for name in files:
            if name.endswith((".py", ".md", ".sh", ".yaml")):
                yield os.path.join(top, name)


def missing_references(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    here = os.path.dirname(path)
    return [ref for line in text.splitlines() if "http" not in line for ref in REFERENCE.findall(line)
            if not any(os.path.isfile(os.path.join(base, ref)) for base in (ROOT, os.path.join(ROOT, "docs"), here))]


def test_every_named_markdown_file_is_in_the_repository():
    bad = {os.path.relpath(p, ROOT): refs for p in project_files()
           if os.path.abspath(p) != os.path.abspath(__file__) and (refs := missing_references(p))}
    assert not bad, f"files naming Markdown pages the repository does not have: {bad}"


def test_a_reference_to_a_page_outside_the_repository_is_caught(tmp_path):
    page = tmp_path / "x.py"
    page.write_text('"""See SPEC_NOTES.md §3, docs/method.md §3, docs/gone.md and README.md; writes table.md.\n'
                    'https://github.com/a/b/blob/main/DATASETS.md"""\n')
    assert missing_references(str(page)) == ["SPEC_NOTES.md", "docs/gone.md"]
