"""Small-count protection: the numbers of an answer as a caller may see them.

Every number a caller receives (totals, cohort counts, facet buckets including "not
recorded", per-source and per-collection breakdowns, browse-level totals, what a filter
excludes for missing values, the source listing) is computed twice through the store: over
``caller.hits`` (records it may see one by one) and over ``caller.counts`` (what aggregates
may draw on). The first is the *visible* part, shown exactly: the caller could list those
records anyway. The difference is the *restricted* part r, shown protected:

* ``r == 0``: nothing restricted matches; the number is exact.
* ``0 < r < k`` (k: the ``min_count`` of the sources involved, default 10): suppressed,
  ``{"count": null, "suppressed": true, "threshold": k}`` for the part; the number shows
  its visible part as a lower bound (``exact: false``), or is null itself when that is 0.
* ``r >= k``: rounded down to a multiple of k (at least k); with ``IHUB_COUNT_NOISE=B`` a
  seeded integer noise in [-B, B] is added first. The part says the interval the true
  value lies in (``low``/``high``).

Sums (instances, bytes) of restricted series are shown only when their series are, rounded
down to two significant figures.

Guarantees (proved by tests/api/test_protect_adversarial.py on every backend):

* A suppressed part is never derivable by one subtraction: published parts are multiples of
  k, known only to within k-1 (plus 2B with noise), so a total minus its other buckets, or
  an answer minus an answer that differs by one filter value, leaves every value from 1 to
  k-1 possible (at least 2B-1 values with noise B >= 2). This is the complementary
  suppression: rounding does it for every pair of numbers at once, so no further cell needs
  hiding (a hidden cell holding 10 or more would make the page's "<10" untrue).
* Asking again, or asking for the same records in other words, gives the same answer:
  noise is a keyed hash (a secret under ``IHUB_HOME``) of the restricted count alone: never
  of the query text, nor of the visible part (which a caller could vary at will to draw
  fresh noise for the same restricted records), nor of the unit or the index generation
  (one set counted alike in two units, or over many publishes, would give fresh draws).
* Thresholds do not depend on what a query matches: a cell's k is the largest
  ``min_count`` of the sources it may draw restricted records from (those named by a
  ``source`` filter or bucket; otherwise every source holding such records), read from the
  manifest.

Limits (README, "Small counts and estimates"): whether any restricted record matches is not
hidden (zero is shown as zero); many queries over different, overlapping base sets can
narrow a value (each answer bounds it, and bounds intersect); with bounded noise, rare
extreme draws narrow a single difference to 2B-1 values; instance and byte sums are
rounded, not hidden.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaging_hub.access import Caller, restricted_at, seen_in_full
from imaging_hub.config import Settings
from imaging_hub.errors import ConfigError
from imaging_hub.schemas.counts import (
    CountBlock,
    CountValue,
    FacetBucket,
    MissingExcluded,
    RestrictedPart,
    SearchCounts,
)
from imaging_hub.schemas.query import (
    CohortQuery,
    CountResponse,
    FacetsResponse,
    IndexInfo,
    SearchResponse,
    SourcesResponse,
    SourceStatus,
)

COUNTED = ("subjects", "studies", "series")
SUMMED = ("instances", "bytes")


@dataclass(frozen=True)
class Protection:
    """Server-wide: the noise bound (``IHUB_COUNT_NOISE``; 0: none) and its secret key."""

    noise: int = 0
    key: bytes = field(default=b"", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Protection:
        """Raises ``ConfigError`` when the key file cannot be read or made."""
        if not settings.count_noise:
            return cls()
        return cls(settings.count_noise, load_key(settings.count_key_file))


def load_key(path: Path) -> bytes:
    """The noise key at ``path``, made (32 random bytes, owner-only) on first use. Several
    processes may start at once: each writes its own file and links it into place, which
    only the first succeeds at, so every one reads the same whole key. Raises
    ``ConfigError``."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            mine = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(32))
                    out.flush()
                    os.fsync(out.fileno())
                with contextlib.suppress(FileExistsError):  # another was first: use its key
                    os.link(mine, path)
            finally:
                mine.unlink(missing_ok=True)
        key = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read or make the count-noise key: {exc}") from exc
    if len(key) < 32:
        raise ConfigError(f"{path}: the count-noise key is shorter than 32 bytes; delete it "
                          f"to make a new one")
    return key


@dataclass(frozen=True)
class Policy:
    """Protection for one caller over one generation's sources: those holding records it
    may count but not see, each with its threshold."""

    thresholds: Mapping[str, int]
    protection: Protection = Protection()
    # some restricted source holds series records (else only collection counts can differ)
    rows: bool = True

    @property
    def active(self) -> bool:
        return bool(self.thresholds)

    def needed(self, collections_unit: bool) -> bool:
        """Whether an answer needs the second, protected count: something restricted can
        be in it (a catalogue's collection records count only in the collections unit)."""
        return self.active and (self.rows or collections_unit)

    def k(self, sources: Iterable[str] | None = None) -> int:
        """The threshold of a number drawing on ``sources`` (None: on any): the largest of
        theirs; the largest of all when none of them is restricted (then nothing restricted
        can be in it, and this is used only if something is)."""
        named = [self.thresholds[s] for s in sources or () if s in self.thresholds]
        if sources is not None and named:
            return max(named)
        return max(self.thresholds.values(), default=10)

    def noise(self, restricted: int) -> int:
        """Seeded noise in [-B, B] for a restricted count: a keyed hash of the count alone,
        so the same records get the same noise whoever asks, however the question is
        phrased, in whichever unit and generation (seeding with the generation would let
        a caller average one number's noise over successive publishes; with the unit, over
        units that count alike, e.g. one series per study per subject)."""
        bound = self.protection.noise
        if not bound:
            return 0
        msg = f"restricted-count\x1f{restricted}".encode()
        digest = hmac.new(self.protection.key, msg, hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") % (2 * bound + 1) - bound


def policy_for(caller: Caller, index: IndexInfo, protection: Protection) -> Policy:
    return Policy({v.source: v.min_count for v in index.sources if restricted_at(v, caller)},
                  protection,
                  rows=any(restricted_at(v, caller, series_only=True) for v in index.sources))


def query_sources(query: CohortQuery) -> frozenset[str] | None:
    """The sources a query names in a ``source`` filter of plain values (None: any)."""
    flt = query.filters.get("source")
    if flt is None or flt.missing or flt.ranges or not flt.values:
        return None
    return frozenset(str(v) for v in flt.values)


# -- one number ------------------------------------------------------------------------------
def restricted_part(r: int, k: int, policy: Policy) -> RestrictedPart | None:
    """A restricted count as published (None: it is 0)."""
    if r <= 0:
        return None
    if r < k:
        return RestrictedPart(count=None, suppressed=True, threshold=k, low=1, high=k - 1,
                              method=f"fewer than {k}: suppressed")
    bound = policy.protection.noise
    shown = k * max(1, (r + policy.noise(r)) // k)
    method = f"rounded down to a multiple of {k}"
    if bound:
        method += f" after seeded noise of at most ±{bound}"
    return RestrictedPart(count=shown, threshold=k, low=max(k, shown - bound),
                          high=shown + k - 1 + bound, method=method)


def restricted_sum(r: int, series: RestrictedPart | None, k: int = 10,
                   ) -> RestrictedPart | None:
    """A sum over restricted series (instances, bytes): hidden with them (or when no
    restricted series is counted: a larger copy of a visible series), else rounded down to
    two significant figures."""
    if r <= 0:
        return None
    if series is None or series.suppressed:
        return RestrictedPart(count=None, suppressed=True, threshold=k, low=0, high=None,
                              method="hidden with the series it sums")
    step = 10 ** max(0, len(str(r)) - 2)
    shown = r // step * step
    return RestrictedPart(count=shown, threshold=series.threshold, low=shown,
                          high=shown + step - 1,
                          method="rounded down to two significant figures")


def shown(visible: int, part: RestrictedPart | None) -> dict[str, Any]:
    """The fields of a protected number: visible part plus restricted part as published."""
    if part is None:
        return {"count": visible}
    if part.count is not None:
        return {"count": visible + part.count, "exact": False, "visible": visible,
                "restricted": part}
    if visible:
        return {"count": visible, "exact": False, "visible": visible, "restricted": part}
    return {"count": None, "exact": False, "suppressed": True, "threshold": part.threshold,
            "visible": 0, "restricted": part}


def _visible(value: CountValue | None) -> int:
    return value.count or 0 if value is not None else 0


def protect_block(vis: CountBlock | None, cnt: CountBlock, k: int, policy: Policy,
                  ) -> CountBlock:
    """Subjects, studies and series protected as counts; instances and bytes with their
    series; the series lacking a size (bytes.missing) as a count."""
    out: dict[str, CountValue] = {}
    for unit in COUNTED:
        v, c = (getattr(vis, unit) if vis else None), getattr(cnt, unit)
        part = restricted_part((c.count or 0) - _visible(v), k, policy)
        out[unit] = c if part is None else CountValue(**shown(_visible(v), part))
    series = out["series"].restricted
    for unit in SUMMED:
        v, c = (getattr(vis, unit) if vis else None), getattr(cnt, unit)
        part = restricted_sum((c.count or 0) - _visible(v), series, k)
        v_missing = v.missing or 0 if v else 0
        gap = restricted_part((c.missing or 0) - v_missing, k, policy)
        if part is None and gap is None:
            out[unit] = c
            continue
        missing = v_missing + (gap.count or 0 if gap else 0) or None
        out[unit] = CountValue(**{**shown(_visible(v), part), "exact": False},
                               missing=missing)
    return CountBlock(**out)


def _breakdown(vis: Mapping[str, CountBlock], cnt: Mapping[str, CountBlock],
               k_of: Any, policy: Policy) -> dict[str, CountBlock]:
    return {key: protect_block(vis.get(key), block, k_of(key), policy)
            for key, block in cnt.items()}


def protect_missing(vis: Mapping[str, MissingExcluded], cnt: Mapping[str, MissingExcluded],
                    k: int, policy: Policy) -> dict[str, MissingExcluded]:
    """What each filter excludes for missing values, per unit protected as counts."""
    out = {}
    for name, c in cnt.items():
        v = vis.get(name)
        detail: dict[str, CountValue] = {}
        fields: dict[str, int | None] = {}
        for unit in COUNTED:
            visible = getattr(v, unit) or 0 if v else 0
            part = restricted_part((getattr(c, unit) or 0) - visible, k, policy)
            value = CountValue(**shown(visible, part))
            fields[unit] = value.count
            if part is not None:
                detail[unit] = value
        out[name] = MissingExcluded(**fields, exact=not detail, detail=detail or None)
    return out


def protect_buckets(vis: list[FacetBucket], cnt: list[FacetBucket], k_of: Any,
                    policy: Policy) -> list[FacetBucket]:
    """One facet's buckets protected, ordered by what is shown (an order by the true
    counts would tell which of two suppressed buckets is larger)."""
    seen = {b.value: b.count or 0 for b in vis}
    out = []
    for b in cnt:
        visible = seen.get(b.value, 0)
        part = restricted_part((b.count or 0) - visible, k_of(b.value), policy)
        out.append(FacetBucket(value=b.value, **shown(visible, part)))
    return sorted(out, key=lambda b: (b.value is None, -(b.count or 0), str(b.value)))


def protect_facets(vis: Mapping[str, list[FacetBucket]], cnt: Mapping[str, list[FacetBucket]],
                   sources: frozenset[str] | None, policy: Policy,
                   ) -> dict[str, list[FacetBucket]]:
    k = policy.k(sources)
    out = {}
    for name, buckets in cnt.items():
        def k_of(value: Any, name: str = name) -> int:
            return policy.k({str(value)}) if name == "source" and value is not None else k
        out[name] = protect_buckets(vis.get(name, []), buckets, k_of, policy)
    return out


# -- whole answers -----------------------------------------------------------------------------
def protect_counts_of(vis: SearchCounts | CountResponse, cnt: SearchCounts | CountResponse,
                      sources: frozenset[str] | None, policy: Policy) -> dict[str, Any]:
    """The overall block, by source and, when present, by collection and the missing-value
    exclusions: the fields to update a count answer with."""
    k = policy.k(sources)
    update: dict[str, Any] = dict(protect_block(vis, cnt, k, policy))
    update["by_source"] = _breakdown(vis.by_source, cnt.by_source, lambda s: policy.k({s}),
                                     policy)
    if isinstance(vis, CountResponse) and isinstance(cnt, CountResponse):
        update["by_collection"] = _breakdown(vis.by_collection, cnt.by_collection,
                                             lambda _: k, policy)
    update["missing_excluded"] = protect_missing(vis.missing_excluded, cnt.missing_excluded,
                                                 k, policy)
    return update


def protect_count(vis: CountResponse, cnt: CountResponse, query: CohortQuery,
                  policy: Policy) -> CountResponse:
    return vis.model_copy(update=protect_counts_of(vis, cnt, query_sources(query), policy))


def protect_search(vis: SearchResponse, cnt: SearchResponse, query: CohortQuery,
                   policy: Policy) -> SearchResponse:
    """``vis``: the answer over ``caller.hits`` (hits, facets, counts); ``cnt``: the same
    question over ``caller.counts`` (no hits)."""
    sources = query_sources(query)
    k = policy.k(sources)
    total = vis.total.model_copy(update={"restricted": restricted_part(
        cnt.total.count - vis.total.count, k, policy)})
    update: dict[str, Any] = {"total": total, "facets": protect_facets(
        vis.facets, cnt.facets, sources, policy),
        "facets_timed_out": sorted(set(vis.facets_timed_out) | set(cnt.facets_timed_out))}
    if vis.counts is not None and cnt.counts is not None:
        update["counts"] = vis.counts.model_copy(
            update=protect_counts_of(vis.counts, cnt.counts, sources, policy))
    return vis.model_copy(update=update)


def protect_facets_answer(vis: FacetsResponse, cnt: FacetsResponse,
                          policy: Policy) -> FacetsResponse:
    return vis.model_copy(update={"facets": protect_facets(vis.facets, cnt.facets, None,
                                                           policy)})


def protect_listing(listing: SourcesResponse, caller: Caller,
                    policy: Policy) -> SourcesResponse:
    """The source listing (already narrowed to what the caller may count in full, per
    ``access.visible_listing``) with each restricted source's series and collections
    protected against the part the caller may see in full."""
    if listing.index is None or not policy.active:
        return listing
    versions = {v.source: v for v in listing.index.sources}
    out = []
    for status in listing.sources:
        version = versions.get(status.source)
        if version is None or status.source not in policy.thresholds:
            out.append(status)
            continue
        out.append(_listed(status, seen_in_full(version, caller),
                           policy.k({status.source}), policy))
    return listing.model_copy(update={"sources": out})


def _listed(status: SourceStatus, seen: tuple[int, int], k: int,
            policy: Policy) -> SourceStatus:
    detail: dict[str, CountValue] = {}
    fields: dict[str, int | None] = {}
    for unit, visible in zip(("series", "collections"), seen, strict=True):
        part = restricted_part((getattr(status, unit) or 0) - visible, k, policy)
        value = CountValue(**shown(visible, part))
        fields[unit] = value.count
        if part is not None:
            detail[unit] = value
    return status.model_copy(update={**fields, "exact": not detail,
                                     "detail": detail or None})
