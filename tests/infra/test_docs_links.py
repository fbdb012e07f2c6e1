"""Every relative link in README.md and docs/*.md resolves: the file exists, and an anchor
(`page.md#heading`, `#heading`) names a heading of that page as GitHub slugs it.

The pages are parsed with markdown-it-py (CommonMark plus GFM tables, as GitHub renders them),
so links inside tables and headings with inline code are read as GitHub reads them, and code
blocks are not mistaken for links. GitHub's slug: the heading's text, lowercased, without
punctuation and symbols (letters, digits, `_`, `-` and spaces stay), spaces as `-`; a repeated
slug gets `-1`, `-2`, … (github-slugger, which github.com's anchors follow).
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _text(inline: Token) -> str:
    """A heading's text as rendered: text and code spans, without markup."""
    return "".join(
        child.content for child in inline.children or [] if child.type in ("text", "code_inline")
    )


def slug(text: str) -> str:
    kept = "".join(
        ch
        for ch in text.lower()
        if ch in " -_" or unicodedata.category(ch)[0] in "LNM"  # letters, digits, marks
    )
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The heading anchors of a page, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    tokens = parser().parse(markdown)
    for heading, inline in itertools.pairwise(tokens):
        if heading.type != "heading_open":
            continue
        base = slug(_text(inline))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


@functools.cache
def _anchors_of(path: Path) -> set[str]:
    return anchors(path.read_text())


def links(markdown: str) -> list[tuple[int, str]]:
    """(line, href) of every link and image, in order."""
    found = []
    for block in parser().parse(markdown):
        for child in block.children or []:
            href = child.attrs.get("href") or child.attrs.get("src")
            if child.type in ("link_open", "image") and isinstance(href, str):
                found.append(((block.map or [0])[0] + 1, href))
    return found


def broken(page: Path) -> list[str]:
    """What is wrong with each relative link of the page, as `file:line: href: why`."""
    problems = []
    for line, href in links(page.read_text()):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue  # another site: not checked offline
        shown = f"docs/{page.name}" if page.parent.name == "docs" else page.name
        where = f"{shown}:{line}: {href}"
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        if not target.exists():
            problems.append(f"{where}: no such file")
        elif parts.fragment:
            if target.suffix != ".md" or target.is_dir():
                problems.append(f"{where}: an anchor into something that is not a page")
            elif unquote(parts.fragment) not in _anchors_of(target):
                problems.append(f"{where}: no heading with that anchor in {target.name}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert not broken(page), "\n".join(broken(page))


def test_the_pages_link_somewhere() -> None:
    """The check is not vacuous: the README links into docs/, with anchors among them."""
    hrefs = [href for _, href in links((ROOT / "README.md").read_text())]
    assert any(h.startswith("docs/") for h in hrefs)
    assert any("#" in h and not urlsplit(h).scheme for h in hrefs)


def test_github_slugs() -> None:
    page = "\n\n".join(
        [
            "# What the offline checks prove, and what they cannot",
            "## Delivery (GitHub Actions)",
            "## Run it: `make demo` — then `make test`",
            "## Tests",
            "## Tests",
            "### Über *alles* 2",
            "| not | a heading |\n|---|---|\n| x | y |",
            "```\n# not a heading either\n```",
        ]
    )
    assert anchors(page) == {
        "what-the-offline-checks-prove-and-what-they-cannot",
        "delivery-github-actions",
        "run-it-make-demo--then-make-test",
        "tests",
        "tests-1",
        "über-alles-2",
    }


def test_a_broken_link_or_anchor_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Alpha\n\n## Two words\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Top\n\n"
        "[ok](docs/a.md) [ok](docs/a.md#two-words) [ok](#top) [web](https://example.com/x#y)\n\n"
        "| key | see |\n|---|---|\n| k | [gone](docs/b.md) |\n\n"
        "[bad anchor](docs/a.md#three) [bad here](#bottom)\n\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken(readme) == [
        "README.md:7: docs/b.md: no such file",
        "README.md:9: docs/a.md#three: no heading with that anchor in a.md",
        "README.md:9: #bottom: no heading with that anchor in README.md",
    ]
    assert not re.search("nowhere", "\n".join(broken(readme)))
