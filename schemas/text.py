"""Free-text search semantics, defined once for every backend.

A query is a list of terms; a record matches when **every** term occurs, case-insensitively,
as a substring of one of its text fields: the series description, the study description, or
its collection's id and name (``"<collection id> <name>"``). A quoted phrase is one term;
an unclosed quote is a phrase to the end.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

MAX_TERMS = 32


@dataclass(frozen=True)
class TextQuery:
    terms: tuple[str, ...]  # lower-cased, non-empty

    @property
    def empty(self) -> bool:
        return not self.terms


def parse_text(text: str | None) -> TextQuery:
    """The terms of a free-text query (lower-cased; quotes keep phrases together)."""
    if not text or not text.strip():
        return TextQuery(())
    try:
        terms = shlex.split(text)
    except ValueError:  # an unclosed quote: the rest is one phrase
        head, _, tail = text.rpartition('"') if text.count('"') % 2 else (text, "", "")
        terms = [*_split(head), tail] if tail.strip() else _split(text)
    out = tuple(dict.fromkeys(t.lower().strip() for t in terms if t.strip()))
    return TextQuery(out[:MAX_TERMS])


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.replace('"', " ").split()
