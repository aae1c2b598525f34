"""The scope grammar and the two visibilities of a caller (imaging_hub.access)."""

from __future__ import annotations

import pytest

from imaging_hub.access import Caller, anonymous, parse_scope
from imaging_hub.errors import ScopeError
from imaging_hub.schemas.query import Grant


@pytest.mark.parametrize(("text", "canonical"), [
    ("open", "open"),
    ("controlled", "open,controlled"),
    (" Controlled , registration ", "open,registration,controlled"),
    ("controlled,source:midrc", "open,controlled,source:midrc"),
    ("source:midrc", "open,registration,controlled,source:midrc"),
    ("collection:nlst,source:b,source:a", "open,registration,controlled,source:a,source:b,"
                                           "collection:nlst"),
    ("sequestered", "open,sequestered"),
    ("sequestered,collection:Open-A1", "open,sequestered,collection:Open-A1"),
    ("controlled,controlled,SOURCE:x", "open,controlled,source:x"),
])
def test_scopes_read_to_their_canonical_form(text: str, canonical: str) -> None:
    scope = parse_scope(text)
    assert str(scope) == canonical
    assert parse_scope(str(scope)) == scope  # the canonical form reads back the same


@pytest.mark.parametrize(("text", "message"), [
    ("", "scope is empty"),
    (" , ", "scope is empty"),
    ("open,,controlled", "empty item"),
    ("public", "'public' is not a tier"),
    ("controlled,project:x", "'project' is not a narrowing"),
    ("controlled,source:", "source name is empty"),
    ("open,source:midrc", "open records are seen by every caller"),
])
def test_bad_scopes_are_refused_naming_the_item(text: str, message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        parse_scope(text)


def test_narrowings_are_ored_and_never_narrow_open() -> None:
    grants = parse_scope("registration,controlled,source:a,collection:nlst").grants()
    assert grants == {
        Grant(tier="open"),
        Grant(tier="registration", sources=frozenset({"a"})),
        Grant(tier="registration", collections=frozenset({"nlst"})),
        Grant(tier="controlled", sources=frozenset({"a"})),
        Grant(tier="controlled", collections=frozenset({"nlst"})),
    }
    hits = Caller("t", parse_scope("controlled,source:a,collection:nlst")).hits
    assert hits.allows("controlled", "a", "x") and hits.allows("controlled", "b", "nlst")
    assert not hits.allows("controlled", "b", "x")
    assert not hits.allows("registration", "a", "x")  # only the listed tier
    assert hits.allows("open", "b", "x")  # open is never narrowed


def test_a_narrowing_without_a_tier_never_implies_sequestered() -> None:
    hits = Caller("t", parse_scope("source:vault")).hits
    assert hits.allows("registration", "vault", "c") and hits.allows("controlled", "vault", "c")
    assert not hits.allows("sequestered", "vault", "c")


def test_counts_draw_on_gated_tiers_but_sequestered_only_when_granted() -> None:
    for caller in (anonymous(), Caller("t", parse_scope("controlled,source:a"))):
        assert caller.counts.tiers == {"open", "registration", "controlled"}
        assert caller.counts.allows("controlled", "zzz", "c")
        assert not caller.counts.allows("sequestered", "a", "c")
    narrowed = Caller("t", parse_scope("sequestered,source:vault"))
    assert narrowed.counts.allows("sequestered", "vault", "c")
    assert not narrowed.counts.allows("sequestered", "other", "c")
    assert narrowed.hits.allows("sequestered", "vault", "c")
    assert not narrowed.hits.allows("controlled", "vault", "c")  # not in its scope


def test_audited_callers_are_those_who_may_see_gated_records() -> None:
    assert not anonymous().audited
    assert not Caller("t", parse_scope("open")).audited
    assert Caller("t", parse_scope("registration")).audited
    assert Caller("t", parse_scope("sequestered,collection:x")).audited


def test_a_source_without_a_tier_summary_is_named_only_to_full_sequestered_scopes() -> None:
    from imaging_hub.access import source_listed
    from imaging_hub.schemas.query import SourceVersion, TierCount

    legacy = SourceVersion(source="old", version="1", harvested_at="t", run_id="r")
    assert not source_listed(legacy, anonymous())
    assert not source_listed(legacy, Caller("t", parse_scope("sequestered,source:other")))
    assert source_listed(legacy, Caller("t", parse_scope("sequestered")))
    assert source_listed(legacy, Caller("t", parse_scope("sequestered,source:old")))
    mixed = legacy.model_copy(update={"tiers": {
        "open": TierCount(series=0, collections=0), "sequestered": TierCount(series=3)}})
    assert not source_listed(mixed, anonymous())  # an empty tier does not count
    assert source_listed(mixed, anonymous(), reached=frozenset({"old"}))
