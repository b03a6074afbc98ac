"""Every `protocols.md <section>` citation names a section that exists in docs/protocols.md.

Code and docs cite the wire-protocol page by section (`docs/protocols.md 6.4`, `R5.1–R5.3`,
`2.3 and R4`). Renumbering or deleting a section must update its citations in the same commit,
and code must cite the page in the repo, not a copy somewhere else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS_DOC = ROOT / "docs" / "protocols.md"
SCANNED = ("kimrel_cli", "tests", "docs", "benchmarks")
DOC_NAME = "protocols" + ".md"  # spelled apart so this file holds no citation of its own

_SECTION = r"R?\d+(?:\.\d+)*"
_CITATION = re.compile(
    r"protocols\.md\)?[ \t]+(?P<sections>"
    + _SECTION
    + r"(?:\s*(?:–|-|,|and)\s*"
    + _SECTION
    + r")*)"
)
_HEADING = re.compile(r"^#{2,6}\s+(?P<id>" + _SECTION + r")\.?\s", re.M)


def doc_sections(markdown: str) -> set[str]:
    """The section ids of a page: `## 6.` → "6", `#### R5.2 …` → "R5.2"."""
    return {match.group("id") for match in _HEADING.finditer(markdown)}


def cited_sections(text: str) -> list[str]:
    """Every section id named right after a `protocols.md` mention (ranges give both ends)."""
    found: list[str] = []
    for match in _CITATION.finditer(text):
        found += re.findall(_SECTION, match.group("sections"))
    return [s.rstrip(".") for s in found]


def bare_code_citations(text: str) -> list[str]:
    """Mentions of the page in code that do not say where it is (`docs/protocols.md`)."""
    return [
        text[max(0, m.start() - 20) : m.end() + 10]
        for m in re.finditer(r"(?<![\w/])protocols\.md", text)
    ]


def _files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".md") and ".venv" not in path.parts and path.is_file():
                files.append(path)
    return files


def test_docs_protocols_exists_with_the_three_protocols():
    sections = doc_sections(PROTOCOLS_DOC.read_text(encoding="utf-8"))
    assert {"1", "2", "5", "6", "R4", "R5"} <= sections


def test_every_citation_names_an_existing_section():
    sections = doc_sections(PROTOCOLS_DOC.read_text(encoding="utf-8"))
    missing = []
    count = 0
    for path in _files():
        for cited in cited_sections(path.read_text(encoding="utf-8")):
            count += 1
            if cited not in sections:
                missing.append(f"{path.relative_to(ROOT)}: {DOC_NAME} {cited}")
    assert count >= 10, "the scan found almost no citations: is the pattern still right?"
    assert not missing, "citations of sections that docs/protocols.md does not have:\n" + "\n".join(
        missing
    )


@pytest.mark.parametrize("top", ["kimrel_cli", "tests"])
def test_code_cites_the_page_in_the_repo(top):
    bare = []
    for path in sorted((ROOT / top).rglob("*.py")):
        if path == Path(__file__).resolve():
            continue  # this file names the page in its own text
        for snippet in bare_code_citations(path.read_text(encoding="utf-8")):
            bare.append(f"{path.relative_to(ROOT)}: …{snippet}…")
    assert not bare, "cite docs/protocols.md (the page in the repo):\n" + "\n".join(bare)


# ---- the checks above can fail ----------------------------------------------------------


def test_the_parsers_on_known_text():
    page = "# Title\n## 1. One\n### 1.2 Sub\n## OpenAI\n### R5. Map\n#### R5.1 Fields\n"
    assert doc_sections(page) == {"1", "1.2", "R5", "R5.1"}
    text = (
        f"(docs/{DOC_NAME} 1.2) and ({DOC_NAME} R5.1–R5.3), [{DOC_NAME}]({DOC_NAME}) 2.3 and R4; "
        f"where {DOC_NAME} leaves one open"
    )
    assert cited_sections(text) == ["1.2", "R5.1", "R5.3", "2.3", "R4"]
    assert set(cited_sections(text)) - doc_sections(page) == {"R5.3", "2.3", "R4"}
    assert len(bare_code_citations(f"see {DOC_NAME} 6.4, or docs/{DOC_NAME} 6.4")) == 1
