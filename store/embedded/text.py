"""Free text on the embedded engine (semantics: ``schemas/text.py``).

Rows are grouped by their combination of (text fields..., dataset): a million IDC rows hold
about 150k distinct combinations, and each distinct field value is normalised once. A
pattern is tested once per distinct value (substring of the normalised text), the hits are
OR'ed per combination, clauses AND'ed (a negated clause must not hit), and the result is
mapped back to rows with one gather.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from imaging_hub.schemas.fields import TEXT_COLUMNS
from imaging_hub.schemas.text import Pattern, collection_texts, normalise, parse_text
from imaging_hub.store.identity import dense

if TYPE_CHECKING:
    from imaging_hub.store.embedded.engine import Generation


class TextIndex:
    """Distinct searchable texts of one generation and which rows hold them."""

    def __init__(self, gen: Generation) -> None:
        self.gen = gen

    @cached_property
    def _index(self) -> tuple[np.ndarray, list[tuple[list[str], np.ndarray]]]:
        """(combination of each row, [(normalised values, combination -> value code)])."""
        g = self.gen
        columns = [g.text[n] for n in TEXT_COLUMNS]
        combo = np.zeros(g.n, np.int64)
        for col in columns:
            combo = dense(combo, col.codes.astype(np.int64))
        combo = dense(combo, g.dataset)
        n_combos = int(combo.max()) + 1 if g.n else 0
        first = np.full(n_combos, -1, np.int64)
        first[combo[::-1]] = np.arange(g.n)[::-1]  # any row of the combination will do
        parts = [([normalise(v) for v in col.values] + [""], col.codes[first])
                 for col in columns]
        rows = g.collection_rows
        ds_text = [normalise(*collection_texts(r)) for r in rows]
        parts.append((ds_text + [""], g.dataset[first]))
        return combo.astype(np.int32), parts

    def _hits(self, pattern: Pattern) -> np.ndarray:
        """Per combination: does any of its fields hold ``pattern``?"""
        combo_of_row, parts = self._index
        needle = pattern.needle
        hit = np.zeros(len(parts[0][1]), bool)
        for values, value_of_combo in parts:
            lut = np.fromiter((needle in v for v in values), bool, len(values))
            hit |= lut[value_of_combo]
        return hit

    def scores(self, text: str | None) -> np.ndarray:
        """Per row, how well it matches ``text``'s positive patterns: per pattern its
        rarity (log of combinations over those holding it) times a saturating count of the
        fields holding it. Zero without text."""
        combo_of_row, parts = self._index
        n = len(parts[0][1])
        score = np.zeros(n, np.float64)
        for clause in parse_text(text).clauses:
            if clause.negated:
                continue
            for pattern in clause.alternatives:
                fields = np.zeros(n, np.float64)
                for values, value_of_combo in parts:
                    needle = pattern.needle
                    lut = np.fromiter((needle in v for v in values), bool, len(values))
                    fields += lut[value_of_combo]
                df = np.count_nonzero(fields)
                if df:
                    score += np.log1p(n / df) * fields / (fields + 1.2)
        return score[combo_of_row]

    def mask(self, text: str | None) -> np.ndarray | None:
        """Rows matching ``text`` (None: no text, every row)."""
        query = parse_text(text)
        if query.empty:
            return None
        combo_of_row, parts = self._index
        wanted = np.ones(len(parts[0][1]), bool)
        for clause in query.clauses:
            hit = np.zeros(len(wanted), bool)
            for pattern in clause.alternatives:
                hit |= self._hits(pattern)
            wanted &= ~hit if clause.negated else hit
        return wanted[combo_of_row]
