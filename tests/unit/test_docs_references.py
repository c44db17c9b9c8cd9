"""Design-document references: code and tests cite docs that exist, and the docs' own links resolve.

Code and tests cite `docs/<name>.md` (optionally with a section name); the old SPEC and
ARCHITECTURE files are gone, so citing them is an error. Inside docs/, every relative Markdown link
must name a file that exists and, with `#anchor`, a heading of that file (GitHub's anchor rules).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CITING_DIRS = ("src", "tests", "bench", "examples", "scripts")
CITING_SUFFIXES = {".py", ".md", ".toml", ".sh", ".yaml", ".yml", ".txt"}
# A citation is `docs/<name>.md` not itself part of a longer path or URL.
CITATION = re.compile(r"(?<![\w./-])docs/([\w.-]+\.md)")
RETIRED = re.compile(r"\bSPEC\b|ARCHITECTURE\.md")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


SELF = Path(__file__).resolve()  # its examples cite what they must


def citing_files(root: Path) -> Iterator[Path]:
    """Every source, test or text file under the directories that may cite docs, and the README."""
    for name in CITING_DIRS:
        for path in sorted((root / name).rglob("*")):
            if path.suffix in CITING_SUFFIXES and path.is_file() and path != SELF and "__pycache__" not in path.parts:
                yield path
    if (root / "README.md").is_file():
        yield root / "README.md"


def missing_citations(root: Path) -> list[str]:
    """`file:line: docs/x.md` for each citation of a document that does not exist."""
    found = []
    for path in citing_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in CITATION.findall(line):
                if not (root / "docs" / name).is_file():
                    found.append(f"{path.relative_to(root)}:{number}: docs/{name}")
    return found


def retired_citations(root: Path) -> list[str]:
    """`file:line: text` for each citation of the retired SPEC or ARCHITECTURE documents."""
    found = []
    for path in citing_files(root):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if RETIRED.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def outside_code(text: str) -> Iterator[str]:
    """The lines of a Markdown text that are not inside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield line


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading anchors by its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(markdown: Path) -> set[str]:
    """The anchors of every heading of a Markdown file, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    result = set()
    for line in outside_code(markdown.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def broken_links(markdown: Path) -> list[str]:
    """`file: link (reason)` for each relative link of a Markdown file that does not resolve."""
    found = []
    for line in outside_code(markdown.read_text(encoding="utf-8")):
        for link in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...: not checked here
                continue
            reason = link_problem(markdown, link)
            if reason:
                found.append(f"{markdown.name}: {link} ({reason})")
    return found


def link_problem(markdown: Path, link: str) -> str | None:
    """Why a relative link from ``markdown`` does not resolve, or None when it does."""
    target_text, _, anchor = link.partition("#")
    target = (markdown.parent / target_text).resolve() if target_text else markdown
    if not target.exists():
        return "no such file"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return "no such heading"
    return None


def doc_files() -> list[Path]:
    """The design documents."""
    return sorted(DOCS.glob("*.md"))


class TestCitations:
    def test_every_cited_document_exists(self) -> None:
        """Each `docs/<name>.md` cited in src, tests, bench, examples, scripts or the README is a file in docs/."""
        assert missing_citations(ROOT) == []

    def test_nothing_cites_the_retired_documents(self) -> None:
        """No file cites SPEC (any section) or ARCHITECTURE.md, which are not in the repository."""
        assert retired_citations(ROOT) == []

    def test_a_missing_document_is_reported(self, tmp_path: Path) -> None:
        """The scan names the file and line of a citation of a document that does not exist."""
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "real.md").write_text("# Real\n")
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "m.py").write_text('"""See docs/real.md and docs/gone.md."""\n')
        assert missing_citations(tmp_path) == ["src/m.py:1: docs/gone.md"]

    def test_retired_citations_are_reported(self, tmp_path: Path) -> None:
        """The scan finds both retired documents, and leaves names that merely contain the letters alone."""
        (tmp_path / "tests").mkdir()
        lines = ["# SPEC §4", "# see ARCHITECTURE.md", "AF_UNSPEC", "TargetSortField.UNSPECIFIED"]
        (tmp_path / "tests" / "t.py").write_text("\n".join(lines) + "\n")
        assert [entry.split(":")[1] for entry in retired_citations(tmp_path)] == ["1", "2"]


class TestDocLinks:
    @pytest.mark.parametrize("markdown", doc_files(), ids=lambda path: path.name)
    def test_links_resolve(self, markdown: Path) -> None:
        """Every relative link of the document names an existing file and, with an anchor, one of its headings."""
        assert broken_links(markdown) == []

    def test_readme_links_resolve(self) -> None:
        """The README's relative links resolve too."""
        assert broken_links(ROOT / "README.md") == []

    def test_broken_file_and_anchor_are_reported(self, tmp_path: Path) -> None:
        """A link to a missing file and one to a missing heading are both reported; good links are not."""
        (tmp_path / "b.md").write_text("# Signing keys (deliberate, `v1`)\n")
        links = "[ok](b.md#signing-keys-deliberate-v1) [gone](c.md) [bad](b.md#nope) [web](https://x.test/a.md)"
        (tmp_path / "a.md").write_text(links + "\n")
        assert broken_links(tmp_path / "a.md") == ["a.md: c.md (no such file)", "a.md: b.md#nope (no such heading)"]

    def test_links_in_code_blocks_are_ignored(self, tmp_path: Path) -> None:
        """A link-like text inside a fenced code block is not a link."""
        (tmp_path / "a.md").write_text("```\n[x](missing.md)\n```\n")
        assert broken_links(tmp_path / "a.md") == []

    def test_repeated_headings_get_numbered_anchors(self, tmp_path: Path) -> None:
        """The second heading of the same text anchors with -1, as on GitHub."""
        (tmp_path / "a.md").write_text("## Notes\n\n## Notes\n")
        assert anchors(tmp_path / "a.md") == {"notes", "notes-1"}
