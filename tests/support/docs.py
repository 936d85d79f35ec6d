"""The code blocks of the README and of every page under docs/, for the docs tests."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
#: Every page whose examples CI runs: the README and the whole site.
PAGES = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
#: A fenced block, at the margin or indented under a list item.
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.DOTALL | re.MULTILINE)


@attrs.frozen
class Block:
    """One fenced code block: where it is, its language and its text."""

    page: Path
    line: int
    lang: str
    code: str

    @property
    def name(self) -> str:
        """``docs/how-to/exports.md:120``: the page and the block's first line."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(lang: str, pages: tuple[Path, ...] = PAGES) -> list[Block]:
    """Every fenced block of `lang` on `pages`, in page order."""
    found = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            indent, kind, code = match.groups()
            if kind == lang:
                line = text.count("\n", 0, match.start()) + 1
                found.append(Block(page, line, lang, textwrap.dedent(code) if indent else code))
    return found


def page(name: str) -> str:
    """The text of one page, ``README.md`` or ``docs/...``."""
    return (ROOT / name).read_text(encoding="utf-8")
