"""Who may see what: token scopes, callers and their two visibilities. The one place where
access policy is decided; the store backends only apply the ``Visibility`` they are given.

Scope grammar (``ihub token create NAME --scope SCOPE``)::

    scope  := item ("," item)*          whitespace around items is ignored
    item   := tier | "source:" NAME | "collection:" ID
    tier   := "open" | "registration" | "controlled" | "sequestered"

* Tiers are granted as listed. ``open`` is always granted in full: anonymous callers see
  open records, so a token never sees less than they do.
* Narrowings restrict every tier the scope lists (except ``open``) to the records of any
  listed source OR any listed collection: ``controlled,source:midrc`` is the controlled
  records of source ``midrc``; ``registration,controlled,source:a,collection:nlst`` is the
  registration and controlled records of source ``a`` plus those of collection ``nlst`` at
  any source. A collection is matched by its id as the source has it, at every source.
* Narrowings without a tier apply to ``registration`` and ``controlled``:
  ``source:midrc`` reads "midrc's gated records". ``sequestered`` is never implied: it is
  granted only when named.

A ``Caller`` carries two visibilities:

* ``hits``: what the caller may see record by record (hits, record lookups): the scope's
  grants plus all open records.
* ``counts``: what aggregate numbers may draw on: every open, registration and controlled
  record, plus the scope's sequestered grants. Without the sequestered scope no answer,
  count, facet or source listing draws on sequestered records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import get_args

from imaging_hub.errors import ScopeError
from imaging_hub.schemas.query import (
    Grant,
    IndexInfo,
    SeriesHit,
    SourcesResponse,
    SourceStatus,
    SourceVersion,
    Visibility,
)
from imaging_hub.schemas.records import AccessTier

TIERS: tuple[AccessTier, ...] = get_args(AccessTier)
GATED: tuple[AccessTier, ...] = ("registration", "controlled")  # narrowing with no tier
NARROWINGS = ("source", "collection")
MAX_SCOPE_ITEMS = 200
MAX_ITEM_CHARS = 256


@dataclass(frozen=True)
class Scope:
    """A parsed scope: tiers granted, and the sources/collections narrowing them."""

    tiers: frozenset[AccessTier]
    sources: frozenset[str] = frozenset()
    collections: frozenset[str] = frozenset()

    def __str__(self) -> str:
        """The canonical scope string (tiers in tier order, then narrowings sorted)."""
        items: list[str] = [t for t in TIERS if t in self.tiers]
        items += [f"source:{s}" for s in sorted(self.sources)]
        items += [f"collection:{c}" for c in sorted(self.collections)]
        return ",".join(items)

    @property
    def narrowed(self) -> bool:
        return bool(self.sources or self.collections)

    def grants(self) -> frozenset[Grant]:
        """One grant per tier, or per tier and narrowing kind (narrowings are OR'ed, and
        a ``Grant`` ANDs its sources and collections, so each kind gets its own)."""
        out: set[Grant] = {Grant(tier="open")}
        for tier in self.tiers:
            if tier == "open" or not self.narrowed:
                out.add(Grant(tier=tier))
                continue
            if self.sources:
                out.add(Grant(tier=tier, sources=self.sources))
            if self.collections:
                out.add(Grant(tier=tier, collections=self.collections))
        return frozenset(out)


def parse_scope(text: str) -> Scope:
    """Read a scope string. Raises ``ScopeError`` naming the item that cannot be read."""
    items = [i.strip() for i in text.split(",")]
    if not any(items):
        raise ScopeError("scope is empty; give tiers (open, registration, controlled, "
                         "sequestered) and optionally source:NAME or collection:ID")
    if len(items) > MAX_SCOPE_ITEMS:
        raise ScopeError(f"scope has more than {MAX_SCOPE_ITEMS} items")
    tiers: set[AccessTier] = set()
    narrow: dict[str, set[str]] = {k: set() for k in NARROWINGS}
    for item in items:
        if not item:
            raise ScopeError(f"scope {text!r}: empty item (two commas in a row?)")
        if len(item) > MAX_ITEM_CHARS:
            raise ScopeError(f"scope item {item[:40]!r}...: longer than {MAX_ITEM_CHARS}")
        kind, sep, value = item.partition(":")
        if sep:
            kind = kind.strip().lower()
            if kind not in NARROWINGS:
                raise ScopeError(f"scope item {item!r}: {kind!r} is not a narrowing "
                                 f"(known: source:NAME, collection:ID)")
            if not value.strip():
                raise ScopeError(f"scope item {item!r}: {kind} name is empty")
            narrow[kind].add(value.strip())
            continue
        tier = item.lower()
        if tier not in TIERS:
            raise ScopeError(f"scope item {item!r} is not a tier (known: {', '.join(TIERS)})"
                             f" nor source:NAME / collection:ID")
        tiers.add(TIERS[TIERS.index(tier)])  # the tier, typed
    if not tiers:
        tiers.update(GATED)
    elif tiers == {"open"} and (narrow["source"] or narrow["collection"]):
        raise ScopeError(f"scope {text!r}: narrowings restrict registration, controlled or "
                         f"sequestered records; open records are seen by every caller")
    tiers.add("open")
    return Scope(frozenset(tiers), frozenset(narrow["source"]),
                 frozenset(narrow["collection"]))


OPEN_SCOPE = Scope(frozenset({"open"}))
# what ``ihub search`` / ``ihub count`` use by default: every tier but sequestered
OPERATOR_SCOPE = Scope(frozenset({"open", "registration", "controlled"}))


@dataclass(frozen=True)
class Caller:
    """Who is asking (``name``: token name, ``cli:<user>``, or None when anonymous), with
    the scope granted and where the call came from (client address, or ``cli``)."""

    name: str | None
    scope: Scope
    origin: str | None = None
    hits: Visibility = field(init=False)
    counts: Visibility = field(init=False)

    def __post_init__(self) -> None:
        grants = self.scope.grants()
        # frozen dataclass: the derived visibilities are set once, here
        object.__setattr__(self, "hits", Visibility(grants=grants))
        counts = {Grant(tier=t) for t in ("open", "registration", "controlled")}
        counts |= {g for g in grants if g.tier == "sequestered"}
        object.__setattr__(self, "counts", Visibility(grants=frozenset(counts)))

    @property
    def audited(self) -> bool:
        """Whether this caller's queries go to the audit log: the caller may see some
        non-open record one by one (see ``imaging_hub.audit``)."""
        return any(g.tier != "open" for g in self.hits.grants)

    @property
    def sees_sequestered(self) -> bool:
        return "sequestered" in self.counts.tiers


def anonymous(origin: str | None = None) -> Caller:
    """A caller without a token: the open scope."""
    return Caller(None, OPEN_SCOPE, origin)


def covers(vis: Visibility, tier: str, source: str) -> bool:
    """Whether ``vis`` covers every record of ``tier`` at ``source`` (a grant of that tier
    not narrowed to collections, for all sources or naming this one)."""
    return any(g.tier == tier and g.collections is None
               and (g.sources is None or source in g.sources) for g in vis.grants)


# -- source listings: what a caller learns about sources ------------------------------------
# A source is named to a caller (in /api/v1/sources and in every answer's ``index.sources``)
# only when the caller may count some of its records: sources whose records are all
# sequestered are never named without a sequestered grant reaching them. The numbers shown
# for a listed source are its records in the tiers the caller may count in full.
#
# ``reached``: sources in which the caller's collection-narrowed grants (only sequestered
# ones widen ``counts``) see some record. Whether a source holds a collection is not in the
# manifest, so the query layer asks the store (``narrowed_grants``) and passes the answer.

def narrowed_grants(caller: Caller) -> Visibility | None:
    """The caller's count grants narrowed to collections, if any (see ``reached``)."""
    grants = frozenset(g for g in caller.counts.grants if g.collections is not None)
    return Visibility(grants=grants) if grants else None


def source_listed(version: SourceVersion, caller: Caller,
                  reached: frozenset[str] = frozenset()) -> bool:
    """Whether ``caller`` may learn that ``version.source`` exists."""
    if version.source in reached:
        return True
    if version.tiers is None:  # published before tiers were recorded: tiers unknown
        return covers(caller.counts, "sequestered", version.source)
    return any(covers(caller.counts, tier, version.source)
               for tier, n in version.tiers.items() if n.series or n.collections)


def visible_index(index: IndexInfo, caller: Caller,
                  reached: frozenset[str] = frozenset()) -> IndexInfo:
    """``index`` naming only the sources ``caller`` may learn of."""
    kept = [s for s in index.sources if source_listed(s, caller, reached)]
    if len(kept) == len(index.sources):
        return index
    return index.model_copy(update={"sources": kept})


def visible_listing(listing: SourcesResponse, caller: Caller,
                    reached: frozenset[str] = frozenset()) -> SourcesResponse:
    """The source listing as ``caller`` may see it: unlisted sources dropped, and each
    listed source's series and collections counted over the tiers it may count in full."""
    if listing.index is None:
        return listing
    versions = {v.source: v for v in listing.index.sources}
    out: list[SourceStatus] = []
    for status in listing.sources:
        version = versions.get(status.source)
        if version is None or not source_listed(version, caller, reached):
            continue
        if version.tiers is not None:
            counted = [n for tier, n in version.tiers.items()
                       if covers(caller.counts, tier, status.source)]
            status = status.model_copy(update={
                "series": sum(n.series for n in counted),
                "collections": sum(n.collections for n in counted)})
        out.append(status)
    return listing.model_copy(update={
        "index": visible_index(listing.index, caller, reached), "sources": out})


def restricted_at(version: SourceVersion, caller: Caller, series_only: bool = False) -> bool:
    """Whether ``caller``'s numbers may draw on records of ``version.source`` that it may
    not see one by one (then small-count protection applies to them); ``series_only``: on
    series records (not only on collection records, which count in the collections unit
    alone). Decided from the manifest alone, so it says nothing about what a query
    matches."""
    if version.tiers is None:  # tiers unknown: restricted whenever the two views differ
        return caller.counts != caller.hits
    return any((n.series or (n.collections and not series_only))
               for tier, n in version.tiers.items()
               if not covers(caller.hits, tier, version.source)
               and any(g.tier == tier and (g.sources is None or version.source in g.sources)
                       for g in caller.counts.grants))


def seen_in_full(version: SourceVersion, caller: Caller) -> tuple[int, int]:
    """Series and collection records of ``version.source`` in the tiers ``caller`` may see
    one by one in full (the exact part of its source listing)."""
    if version.tiers is None:
        return 0, 0
    seen = [n for tier, n in version.tiers.items()
            if covers(caller.hits, tier, version.source)]
    return sum(n.series for n in seen), sum(n.collections for n in seen)


def visible_hosts(hit: SeriesHit, index: IndexInfo, caller: Caller) -> SeriesHit:
    """``hit`` whose ``hosts`` name only sources whose copy ``caller`` may see: the hit's
    own source, and other hosts all of whose records the caller may see one by one. (The
    backends list every source holding the series' UID; whether another host's copy is
    visible is not known here, so hosts with records the caller may not see are left out.)"""
    versions = {v.source: v for v in index.sources}
    kept = []
    for host in hit.hosts:
        tiers = versions[host].tiers if host in versions else None
        if host == hit.source or (tiers is not None and all(
                covers(caller.hits, t, host) for t, n in tiers.items()
                if n.series or n.collections)):
            kept.append(host)
    if kept == hit.hosts:
        return hit
    return hit.model_copy(update={"hosts": kept})
