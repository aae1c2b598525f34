"""Free-text syntax (schemas/text.py): words, OR, -word / NOT, word*, phrases."""

from __future__ import annotations

import pytest

from imaging_hub.schemas.text import Clause, Pattern, normalise, parse_text, record_matches


def p(*tokens: str, prefix: bool = False) -> Pattern:
    return Pattern(tokens, prefix)


@pytest.mark.parametrize(("query", "clauses"), [
    ("lung chest", (Clause((p("lung"),)), Clause((p("chest"),)))),
    ("lung AND chest", (Clause((p("lung"),)), Clause((p("chest"),)))),
    ("lung OR liver", (Clause((p("lung"), p("liver"))),)),
    ('"t1 axial" OR flair ct', (Clause((p("t1", "axial"), p("flair"))), Clause((p("ct"),)))),
    ("chest -phantom", (Clause((p("chest"),)), Clause((p("phantom"),), negated=True))),
    ("chest NOT phantom", (Clause((p("chest"),)), Clause((p("phantom"),), negated=True))),
    ("T1*", (Clause((p("t1", prefix=True),)),)),
    ('"lung', (Clause((p("lung"),)),)),
    ('"whole slide breast', (Clause((p("whole", "slide", "breast"),)),)),
    ('-"low dose" ct', (Clause((p("low", "dose"),), negated=True), Clause((p("ct"),)))),
    ("T1-weighted", (Clause((p("t1", "weighted"),)),)),
    ("OR lung", (Clause((p("lung"),)),)),  # a leading OR joins nothing
    ("* - ", ()),
])
def test_syntax(query: str, clauses: tuple[Clause, ...]) -> None:
    assert parse_text(query).clauses == clauses


def test_whole_words_prefixes_phrases_and_fields() -> None:
    texts = [normalise("Axial T1W post-contrast"), normalise("BRAIN"),
             normalise("glioma_mr", "Glioblastoma")]
    assert texts[0] == " axial t1w post contrast "
    assert texts[2] == " glioma mr | glioblastoma "
    yes = ["t1w", "T1*", "axial t1w", "brain glioblastoma", "gliom* -lung", "lung OR brain",
           '"post contrast"']
    no = ["t1", "gliom", "lung", '"t1w axial"', "brain -glioma", '"mr glioblastoma"']
    for q in yes:
        assert record_matches(parse_text(q), texts), q
    for q in no:
        assert not record_matches(parse_text(q), texts), q
