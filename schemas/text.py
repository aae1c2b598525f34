"""Free-text search, defined once for every backend.

**What is searched.** Per record, its descriptive fields: the series and study descriptions
and the body part; and its collection's id, name, description, disease types and primary
sites. Each field is reduced to its words (lower-cased runs of letters and digits; "T1-W"
is the words ``t1 w``), so matching is by whole words, never inside a word.

**Syntax** (what a person expects from a search box):

* words are AND-ed: ``lung nodule``;
* ``OR`` between words or quoted phrases: ``lung OR liver``, ``"t1 axial" OR flair``;
* ``-word`` (or ``NOT word``) excludes: ``chest -phantom``; ``AND`` is allowed and ignored;
* ``word*`` matches words starting with it: ``T1*`` finds ``T1``, ``T1W``, ``t1_mprage``;
* ``"quoted words"`` match consecutive words in one field; an unclosed quote is a phrase to
  the end.

A backend tests a pattern against a field's normalised text (``normalise``) with a plain
substring test of ``Pattern.needle`` — the embedded engine in Python over distinct values,
the search engines with a ``wildcard`` query on the same normalised text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from imaging_hub.schemas.fields import COLLECTION_TEXT_COLUMNS

MAX_CLAUSES = 32
FIELD_SEPARATOR = "|"  # between fields of one record, so a phrase never spans two
_WORD = re.compile(r"[^\W_]+")


def words(value: str | None) -> list[str]:
    """The lower-cased words of a value."""
    return _WORD.findall(value.lower()) if value else []


def normalise(*values: str | None) -> str:
    """Values as one searchable text: ``" w1 w2 | w3 "`` (one part per value)."""
    parts = [" ".join(words(v)) for v in values if v and words(v)]
    return " " + f" {FIELD_SEPARATOR} ".join(parts) + " " if parts else ""


def collection_texts(row: Mapping[str, Any]) -> list[str | None]:
    """A collection record's searchable values, one part each (list items separately)."""
    out: list[str | None] = []
    for c in COLLECTION_TEXT_COLUMNS:
        value = row.get(c)
        out += [str(v) for v in value] if isinstance(value, list) else [
            None if value is None else str(value)]
    return out


@dataclass(frozen=True)
class Pattern:
    """Consecutive words; ``prefix``: the last one may continue."""

    tokens: tuple[str, ...]
    prefix: bool = False

    @property
    def needle(self) -> str:
        """The substring of a normalised text that this pattern is."""
        return " " + " ".join(self.tokens) + ("" if self.prefix else " ")


@dataclass(frozen=True)
class Clause:
    """Any of the alternatives must occur (or, ``negated``, none of them)."""

    alternatives: tuple[Pattern, ...]
    negated: bool = False


@dataclass(frozen=True)
class TextQuery:
    clauses: tuple[Clause, ...]

    @property
    def empty(self) -> bool:
        return not self.clauses

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        return tuple(dict.fromkeys(p for c in self.clauses for p in c.alternatives))

    @property
    def terms(self) -> tuple[str, ...]:
        """The needles, for backends that look patterns up by their text."""
        return tuple(p.needle for p in self.patterns)

    @property
    def words(self) -> tuple[str, ...]:
        """Every word of the positive clauses (for suggestions)."""
        return tuple(dict.fromkeys(t for c in self.clauses if not c.negated
                                   for p in c.alternatives for t in p.tokens))


def _items(text: str) -> list[tuple[str, bool, bool]]:
    """(raw text, quoted, negated) items of a query, in order."""
    out: list[tuple[str, bool, bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        if text[i] == '"':
            end = text.find('"', i + 1)
            end = n if end < 0 else end
            raw = text[i + 1:end]
            if end + 1 < n and text[end + 1] == "*":
                raw, end = raw + "*", end + 1
            out.append((raw, True, negated))
            i = end + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != '"':
                j += 1
            out.append((text[i:j], False, negated))
            i = j
    return out


def _pattern(raw: str) -> Pattern | None:
    toks = words(raw)
    if not toks:
        return None
    return Pattern(tuple(toks), prefix=raw.rstrip().endswith("*"))


def parse_text(text: str | None) -> TextQuery:
    """The clauses of a free-text query (see the module docstring)."""
    if not text or not text.strip():
        return TextQuery(())
    clauses: list[Clause] = []
    join, negate_next = False, False
    for raw, quoted, negated in _items(text):
        if not quoted and raw in ("AND", "OR", "NOT"):
            join = raw == "OR" and bool(clauses) and not clauses[-1].negated
            negate_next = raw == "NOT"
            continue
        pattern = _pattern(raw)
        if pattern is None:
            continue
        negated = negated or negate_next
        if join and not negated:
            last = clauses.pop()
            clauses.append(Clause((*last.alternatives, pattern)))
        else:
            clauses.append(Clause((pattern,), negated=negated))
        join, negate_next = False, False
    return TextQuery(tuple(clauses[:MAX_CLAUSES]))


def record_matches(query: TextQuery, texts: list[str]) -> bool:
    """Whether a record whose normalised field texts are ``texts`` matches ``query``."""
    def hit(clause: Clause) -> bool:
        return any(p.needle in t for p in clause.alternatives for t in texts)

    return all(hit(c) != c.negated for c in query.clauses)
