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


def broken_links(path: str) -> list[str]:
    """The ``[text](target)`` links of a Markdown page whose target is not a file or folder
    relative to the page (web addresses and anchors aside)."""
    with open(path, encoding="utf-8") as f:
        links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read())
    return [t for t in links if "://" not in t and not os.path.exists(os.path.join(os.path.dirname(path), t))]


def test_every_relative_link_of_a_page_resolves():
    """Links between pages (README -> docs/x.md, docs/x.md -> y.md) lead somewhere."""
    bad = {os.path.relpath(p, ROOT): gone for p in project_files() if p.endswith(".md") and (gone := broken_links(p))}
    assert not bad, f"links to pages that do not exist: {bad}"


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "here.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[a](here.md) [b](gone.md#s) [c](docs/here.md) [d](https://x.org/y.md) [e](here.md#part)\n")
    assert broken_links(str(page)) == ["gone.md", "docs/here.md"]
