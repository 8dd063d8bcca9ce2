"""The repository stands alone: every documentation page a docstring, comment or page names
(``docs/*.md``, or an upper-case name such as ``README.md``) exists in it. Names on a line with a
URL point elsewhere; lower-case names such as ``table.md`` are output files."""
import os
import re

import pytest

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


def findings(check, suffixes: tuple[str, ...] = (".py", ".md", ".sh", ".yaml")) -> dict[str, list[str]]:
    """``check``'s findings per project file ending in one of ``suffixes`` (this file aside: its
    examples are wrong on purpose)."""
    return {os.path.relpath(p, ROOT): found for p in project_files()
            if p.endswith(suffixes) and os.path.abspath(p) != os.path.abspath(__file__) and (found := check(p))}


def test_every_named_markdown_file_is_in_the_repository():
    bad = findings(missing_references)
    assert not bad, f"files naming Markdown pages the repository does not have: {bad}"


def broken_links(path: str) -> list[str]:
    """The ``[text](target)`` links of a Markdown page whose target is not a file or folder
    relative to the page (web addresses and anchors aside)."""
    with open(path, encoding="utf-8") as f:
        links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", f.read())
    return [t for t in links if "://" not in t and not os.path.exists(os.path.join(os.path.dirname(path), t))]


def test_every_relative_link_of_a_page_resolves():
    """Links between pages (README -> docs/x.md, docs/x.md -> y.md) lead somewhere."""
    bad = findings(broken_links, (".md",))
    assert not bad, f"links to pages that do not exist: {bad}"


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "here.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[a](here.md) [b](gone.md#s) [c](docs/here.md) [d](https://x.org/y.md) [e](here.md#part)\n")
    assert broken_links(str(page)) == ["gone.md", "docs/here.md"]


CITATION = re.compile(r"(docs/[\w/-]+\.md), ((?:[\"'][^\"'\n]+[\"'](?:;? (?:and|to) |; |, )?)+)")


def heading_titles(page: str) -> set[str]:
    """The titles of a page's headings, without a leading section number or a trailing ``(`path`, ...)``."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        return {re.sub(r"\s*\(`[^)]*\)$", "", re.sub(r"^\d+(\.\d+)*\.? ", "", line.lstrip("#").strip()))
                for line in f if line.startswith("#")}


def bad_citations(path: str) -> list[str]:
    """``docs/x.md, "Heading"`` citations (and ``"A" to "B"``, ``"A" and "B"``) naming no heading of
    the page, and section-number citations (``§3``), which a renumbering silently breaks."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bad = [m.group(0) for m in re.finditer(r"§\s?\d", text)]
    for m in CITATION.finditer(text):
        page = m.group(1)
        if not os.path.isfile(os.path.join(ROOT, page)):
            continue  # a missing page is the test above's finding
        titles = heading_titles(page)
        bad += [f"{page}: {t!r}" for t in re.findall(r"[\"']([^\"'\n]+)[\"']", m.group(2)) if t not in titles]
    return bad


def test_code_cites_docs_by_headings_that_exist():
    bad = findings(bad_citations, (".py", ".sh", ".yaml"))
    assert not bad, f"citations of a heading that does not exist, or of a section number: {bad}"


@pytest.mark.parametrize("check, text, found", [
    ("missing_references", '"""See SPEC_NOTES.md §3, docs/method.md §3, docs/gone.md and README.md; writes table.md.\n'
     'https://github.com/a/b/blob/main/DATASETS.md"""\n', ["SPEC_NOTES.md", "docs/gone.md"]),
    ("bad_citations", '"""See docs/method.md, "Dual prompts" to "L_cate"; docs/engine.md, \'Trainer\'.\n'
     'Also docs/method.md, "Dual prompt" and docs/engine.md §3."""\n', ["§3", "docs/method.md: 'Dual prompt'"]),
])
def test_the_checks_catch_a_wrong_reference(tmp_path, check, text, found):
    """A page the repository lacks; a heading that does not exist and a section number."""
    page = tmp_path / "x.py"
    page.write_text(text)
    assert globals()[check](str(page)) == found


def generated(path: str) -> bool:
    """Whether a page was written by a benchmark script (its opening lines say so)."""
    with open(path, encoding="utf-8") as f:
        head = f.read(800)
    return re.search(r"(?:(?:Generated|Written|written) by:? `?|^`)python (?:-m )?benchmarks[/ ]", head, re.M) is not None


def test_generated_reports_stand_apart_from_the_written_pages():
    results = os.path.join(ROOT, "docs", "results")
    pages = [os.path.join(top, n) for top, _, names in os.walk(os.path.join(ROOT, "docs")) for n in names]
    misplaced = [os.path.relpath(p, ROOT) for p in pages
                 if (os.path.dirname(p) == results) != (generated(p) if p.endswith(".md") else p.endswith(".json"))]
    assert not misplaced, "generated reports and their JSON belong in docs/results/, written pages in docs/"
