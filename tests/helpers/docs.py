"""The blocks of commands in the README and the docs, as the tests that run them read them."""

import re
from collections.abc import Iterator

from tests.helpers.oracle import ROOT

# The files whose blocks of commands are run by the tests, or say what they need (tests/test_docs.py).
DOCS = ("README.md", "docs/deploying.md", "docs/security.md", "docs/how-it-works.md", "bench/README.md")


def blocks(name: str) -> Iterator[tuple[str, str]]:
    """The sh and console blocks of a file, with the heading above each (without its #s)."""
    heading, language, lines = "", None, []
    for line in (ROOT / name).read_text().splitlines(keepends=True):
        if line.startswith("```") and language is None:
            language, lines = line[3:].strip(), []
        elif line.startswith("```"):
            if language in ("sh", "console"):
                yield heading, "".join(lines)
            language = None
        elif language is not None:
            lines.append(line)
        elif re.match(r"#{1,3} ", line):
            heading = line.strip().lstrip("#").strip()


def commands(block: str) -> list[str]:
    """A block's commands, one a line: a line ending in a backslash joined to the next, and a comment
    after two spaces left out."""
    return [line.split("  #", 1)[0].strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines()]


def doc_block(name: str, heading: str, holding: str = "") -> str:
    """The one block under heading (that holds the text holding, if given)."""
    found = [text for above, text in blocks(name) if above == heading and holding in text]
    assert len(found) == 1, f"{name}, {heading}: one block should hold {holding!r}, not {len(found)}"
    return found[0]
