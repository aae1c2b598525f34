"""Small-count protection and estimates, piece by piece: one number, the noise and its key,
thresholds per source, the settings, the estimate formula, how the CLI writes them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from imaging_hub.config import count_noise
from imaging_hub.errors import ConfigError
from imaging_hub.schemas.counts import CountValue, FacetBucket
from imaging_hub.schemas.filters import parse_field_filter
from imaging_hub.search_ui import cli_counts
from imaging_hub.search_ui.estimate import Fraction, _scaled, age_fraction, sex_fraction
from imaging_hub.search_ui.protect import (
    Policy,
    Protection,
    load_key,
    restricted_part,
    restricted_sum,
    shown,
)

PLAIN = Policy({"clinic": 10, "big": 25})


def noisy(bound: int, key: bytes = b"k" * 32) -> Policy:
    return Policy({"clinic": 10}, Protection(bound, key))


def test_a_restricted_count_is_absent_suppressed_or_rounded_down_to_k() -> None:
    assert restricted_part(0, 10, PLAIN) is None
    small = restricted_part(9, 10, PLAIN)
    assert small is not None and small.count is None and small.suppressed
    assert (small.low, small.high, small.threshold) == (1, 9, 10)
    for r, want in ((10, 10), (19, 10), (20, 20), (57, 50), (1234, 1230)):
        part = restricted_part(r, 10, PLAIN)
        assert part is not None and part.count == want and not part.suppressed
        assert part.low <= r <= (part.high or 0) and part.high == want + 9
    assert restricted_part(57, 25, PLAIN).count == 50  # type: ignore[union-attr]


def test_noise_is_bounded_keyed_and_the_same_for_the_same_count() -> None:
    policy = noisy(3)
    draws = [policy.noise(r) for r in range(10, 400)]
    assert set(draws) == set(range(-3, 4))  # every value of [-3, 3] occurs, nothing else
    assert draws == [noisy(3).noise(r) for r in range(10, 400)]  # repeatable: same key
    assert draws != [noisy(3, key=b"x" * 32).noise(r) for r in range(10, 400)]  # keyed
    for r in range(10, 400):
        part = restricted_part(r, 10, policy)
        assert part is not None and part.count is not None and part.count % 10 == 0
        assert part.low <= r <= (part.high or 0)
        assert part.count == 10 * max(1, (r + policy.noise(r)) // 10)
    assert Policy({"clinic": 10}).noise(50) == 0  # no noise configured


def test_the_threshold_of_a_number_is_the_largest_of_the_sources_it_draws_on() -> None:
    assert PLAIN.k() == 25 and PLAIN.k(None) == 25
    assert PLAIN.k({"clinic"}) == 10 and PLAIN.k({"clinic", "big"}) == 25
    assert PLAIN.k({"public"}) == 25  # not restricted: only used if something is, then safely
    assert not Policy({}).active and PLAIN.active


def test_sums_follow_their_series_and_keep_two_significant_figures() -> None:
    hidden = restricted_part(4, 10, PLAIN)
    part = restricted_sum(12345, hidden)
    assert part is not None and part.count is None and part.suppressed and part.high is None
    seen = restricted_part(40, 10, PLAIN)
    part = restricted_sum(12345, seen)
    assert part is not None and (part.count, part.low, part.high) == (12000, 12000, 12999)
    assert restricted_sum(7, seen).count == 7  # type: ignore[union-attr]
    assert restricted_sum(0, seen) is None


def test_a_number_shows_its_visible_part_when_the_rest_is_suppressed() -> None:
    hidden = restricted_part(4, 10, PLAIN)
    assert CountValue(**shown(25, hidden)).count == 25
    whole = CountValue(**shown(0, hidden))
    assert (whole.count, whole.suppressed, whole.threshold) == (None, True, 10)
    assert whole.model_dump(mode="json")["restricted"]["suppressed"] is True
    assert CountValue(**shown(5, None)).model_dump() == {"count": 5, "exact": True,
                                                         "missing": None}
    assert FacetBucket(value="CT", **shown(5, None)).model_dump() == {"value": "CT",
                                                                      "count": 5}


def test_the_noise_key_is_made_once_owner_only_and_refused_when_damaged(tmp_path: Path,
                                                                         ) -> None:
    path = tmp_path / "home" / "count-noise.key"
    key = load_key(path)
    assert len(key) == 32 and load_key(path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="shorter than 32 bytes"):
        load_key(path)


@pytest.mark.parametrize(("raw", "want"), [("", 0), ("0", 0), ("2", 2), ("1000", 1000)])
def test_count_noise_setting(raw: str, want: int) -> None:
    assert count_noise({"IHUB_COUNT_NOISE": raw}) == want


@pytest.mark.parametrize(("raw", "problem"), [
    ("1", "at most 1 can give"), ("1001", "from 2 to 1000"), ("-2", "below 0"),
    ("lots", "not a whole number")])
def test_bad_count_noise_is_refused_with_a_reason(raw: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        count_noise({"IHUB_COUNT_NOISE": raw})


def test_estimate_fractions_from_published_facts() -> None:
    facts = {"sex": "F=600,M=400", "age_range": "18-90"}
    assert sex_fraction(parse_field_filter("sex", ["F"]), facts).value == 0.6  # type: ignore[union-attr]
    assert sex_fraction(parse_field_filter("sex", ["F", "M"]), facts).value == 1.0  # type: ignore[union-attr]
    assert sex_fraction(parse_field_filter("sex", [None]), facts).value is None  # type: ignore[union-attr]
    assert sex_fraction(parse_field_filter("sex", ["F"]), {}) is None
    age = parse_field_filter
    assert age_fraction(age("age", {"gte": 0, "lte": 120}), facts).value == 1.0  # type: ignore[union-attr]
    assert age_fraction(age("age", {"gte": 91}), facts).value == 0.0  # type: ignore[union-attr]
    assert age_fraction(age("age", {"gte": 30, "lte": 40}), facts).value is None  # type: ignore[union-attr]
    assert age_fraction(age("age", {"gte": 30}), {}) is None


def test_several_fractions_multiply_within_frechet_bounds() -> None:
    two = [Fraction(0.6, "a"), Fraction(0.5, "b")]
    got = _scaled(1000, two)
    assert got is not None and (got.estimate, got.low, got.high) == (300, 100, 500)
    unknown = _scaled(1000, [Fraction(0.6, "a"), Fraction(None, "b")])
    assert unknown is not None and (unknown.estimate, unknown.low, unknown.high) == (None, 0, 600)
    assert _scaled(None, two) is None


def test_the_cli_writes_protected_numbers_plainly() -> None:
    hidden = restricted_part(4, 10, PLAIN)
    rounded = restricted_part(57, 10, PLAIN)
    assert cli_counts.number(CountValue(count=1234)) == "1,234"
    assert cli_counts.number(CountValue(**shown(0, hidden))) == "<10"
    assert cli_counts.number(CountValue(**shown(1234, hidden))) == "1,234 + <10"
    assert cli_counts.number(CountValue(**shown(1234, rounded))) == "≈1,284"
    assert cli_counts.part_text(rounded) == "50 to 59"  # type: ignore[arg-type]
    assert cli_counts.number(CountValue(count=2_500_000_000), 1e9, 1) == "2.5"
    hidden_sum = restricted_sum(120, hidden)
    assert cli_counts.number(CountValue(**shown(0, hidden_sum))) == "–"
    assert cli_counts.number(CountValue(**shown(300, hidden_sum))) == "≥300"


def test_series_lacking_a_size_are_a_protected_count_too() -> None:
    """Restricted series without a size add no bytes, yet how many they are is a count."""
    from imaging_hub.schemas.counts import CountBlock
    from imaging_hub.search_ui.protect import protect_block

    def block(series: int, size: int, missing: int) -> CountBlock:
        return CountBlock(subjects=CountValue(count=series), studies=CountValue(count=series),
                          series=CountValue(count=series),
                          instances=CountValue(count=series * 10),
                          bytes=CountValue(count=size, exact=not missing,
                                           missing=missing or None))

    seen = block(20, 20_000, 0)
    few = protect_block(seen, block(23, 20_000, 3), 10, PLAIN)  # 3 restricted, no size
    assert few.series.restricted is not None and few.series.restricted.suppressed
    assert few.bytes.count == 20_000 and few.bytes.missing is None and not few.bytes.exact
    assert few.instances.restricted is not None and few.instances.restricted.suppressed
    many = protect_block(seen, block(57, 20_000, 37), 10, PLAIN)
    assert many.bytes.missing == 30 and not many.bytes.exact  # 37 rounded down to 30
    assert protect_block(seen, seen, 10, PLAIN) == seen  # nothing restricted: unchanged
