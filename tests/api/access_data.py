"""A small synthetic index with records in every access tier, the scopes the access tests
ask with, and a brute-force oracle of what each scope may see (written from the scope
grammar in README, not from imaging_hub.access)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from imaging_hub.config import Settings
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.embedded import EmbeddedStore
from tests.store import synthetic as syn

TIERS = ("open", "registration", "controlled", "sequestered")
GATED = ("registration", "controlled")
Pred = Callable[[str, str, str], bool]  # (tier, source, collection) -> visible


def _tiered(r: SeriesRecord, tier: str) -> SeriesRecord:
    return r.model_copy(update={"access": r.access.model_copy(update={"tier": tier})})


def records(seed: int = 11) -> dict[str, list[SeriesRecord]]:
    """alpha: every tier; beta: open and controlled; vault: sequestered only, holding
    copies of some of alpha's open series (same UIDs) and series of its own; reg: only
    registration."""
    rng = random.Random(seed)
    colls = list(syn.COLLECTIONS)
    out: dict[str, list[SeriesRecord]] = {"alpha": [], "beta": [], "vault": [], "reg": []}
    for i in range(160):  # a study belongs to one subject
        c, subject = rng.choice(colls), f"A{rng.randrange(40)}"
        r = syn.series("alpha", c, subject, f"9.{subject}.{rng.randrange(3)}", f"9.1.{i}",
                       modality=rng.choice(syn.MODALITIES))
        out["alpha"].append(_tiered(r, rng.choice(TIERS)))
    for i in range(60):
        c, subject = rng.choice(colls), f"B{rng.randrange(20)}"
        r = syn.series("beta", c, subject, f"8.{subject}.{rng.randrange(2)}", f"8.1.{i}")
        out["beta"].append(_tiered(r, rng.choice(("open", "controlled"))))
    copies = [r for r in out["alpha"] if r.access.tier == "open"][:15]
    out["vault"] = [_tiered(r.model_copy(update={
        "id": f"vault:{r.identifiers.series_uid}", "source": "vault",
        "provenance": syn.prov("vault")}), "sequestered") for r in copies]
    out["vault"] += [_tiered(syn.series("vault", "lungs", f"V{i}", f"7.{i}", f"7.1.{i}"),
                             "sequestered") for i in range(12)]
    out["reg"] = [_tiered(syn.series("reg", "brains", f"R{i}", f"6.{i}", f"6.1.{i}"),
                          "registration") for i in range(9)]
    return out


def publish(home: Path) -> list[SeriesRecord]:
    """Publish the records under ``home``; return all of them."""
    store = EmbeddedStore(Settings(home=home).index_dir)
    data = records()
    for source, recs in data.items():
        store.publish(syn.result(source, recs))
    return [r for recs in data.values() for r in recs]


# scope -> (what hits may show, what sequestered data aggregates may draw on)
def _ok(tiers: tuple[str, ...], sources: tuple[str, ...] = (),
        collections: tuple[str, ...] = ()) -> Pred:
    def pred(tier: str, source: str, collection: str) -> bool:
        if tier == "open":
            return True
        if tier not in tiers:
            return False
        if not sources and not collections:
            return True
        return source in sources or collection in collections
    return pred


SCOPES: dict[str | None, Pred] = {
    None: _ok(()),  # anonymous
    "open": _ok(()),
    "registration": _ok(("registration",)),
    "controlled": _ok(("controlled",)),
    "registration,controlled": _ok(GATED),
    "sequestered": _ok(("sequestered",)),
    "controlled,source:alpha": _ok(("controlled",), ("alpha",)),
    "source:beta": _ok(GATED, ("beta",)),
    "controlled,collection:lungs": _ok(("controlled",), (), ("lungs",)),
    "sequestered,source:vault": _ok(("sequestered",), ("vault",)),
    "registration,controlled,sequestered,source:alpha,collection:brains":
        _ok(("registration", "controlled", "sequestered"), ("alpha",), ("brains",)),
}


def counts_pred(scope: str | None) -> Pred:
    """What aggregate numbers may draw on: every non-sequestered record, and sequestered
    records the scope grants."""
    hits = SCOPES[scope]
    return lambda t, s, c: t != "sequestered" or hits(t, s, c)


def listed_sources(everything: list[SeriesRecord], scope: str | None) -> dict[str, int]:
    """Source -> series shown in /api/v1/sources: sources with a record the caller may
    count; series of tiers the caller may count at that source in full."""
    pred = counts_pred(scope)
    out: dict[str, int] = {}
    for source in {r.source for r in everything}:
        mine = [r for r in everything if r.source == source]
        if not any(pred(r.access.tier, source, r.collection) for r in mine):
            continue
        full = {t for t in TIERS if all(pred(t, source, r.collection) for r in mine
                                        if r.access.tier == t)}
        out[source] = sum(1 for r in mine if r.access.tier in full)
    return out


def listed_visible(everything: list[SeriesRecord], scope: str | None) -> dict[str, int]:
    """Source -> series of the tiers the caller may see one by one there in full, through a
    grant not narrowed to collections (the listing counts per source and tier, so it cannot
    tell a collection's records apart: those count as not seen, and are protected)."""
    hits = SCOPES[scope]
    out: dict[str, int] = {}
    for source in {r.source for r in everything}:
        mine = [r for r in everything if r.source == source]
        full = {t for t in TIERS if hits(t, source, "\x00 no such collection")}
        out[source] = sum(1 for r in mine if r.access.tier in full)
    return out


# -- the protection rules, as README states them (noise off) ---------------------------------
def check_part(part: dict[str, Any] | None, r: int, k: int = 10, noise: int = 0) -> None:
    """A restricted part of true value ``r``: absent at 0; suppressed below k; else rounded
    down to a multiple of k (at least k), after noise of at most ``noise``; its interval
    holds r."""
    if r == 0:
        assert part is None, (part, r)
        return
    assert part is not None and part["threshold"] == k, (part, r)
    assert part["low"] <= r and (part["high"] is None or r <= part["high"]), (part, r)
    if r < k:
        assert part["count"] is None and part["suppressed"], (part, r)
        return
    shown = part["count"]
    assert shown is not None and shown % k == 0 and shown >= k, (part, r)
    assert shown - noise <= r < shown + k + noise, (part, r)


def check_protected(got: dict[str, Any], visible: int, counted: int, k: int = 10,
                    noise: int = 0) -> None:
    """``got`` (a count value or facet bucket) is what README promises for a number whose
    visible part is ``visible`` and whose count over everything the caller may count is
    ``counted``: exact when nothing restricted matches, else the visible part plus the
    restricted part as published (``check_part``)."""
    r = counted - visible
    assert r >= 0, (got, visible, counted)
    part = got.get("restricted")
    check_part(part, r, k, noise)
    if part is None:
        assert got["count"] == visible, (got, visible, counted)
        return
    assert got.get("exact") is False and got.get("visible") == visible, got
    if part["count"] is not None:
        assert got["count"] == visible + part["count"], got
    elif visible:
        assert got["count"] == visible and not got.get("suppressed"), got
    else:
        assert got["count"] is None and got["suppressed"] and got["threshold"] == k, got


def check_sum(got: dict[str, Any], visible: int, counted: int, series_hidden: bool) -> None:
    """An instance or byte total: the restricted sum hidden with its series, else rounded
    down to two significant figures."""
    r = counted - visible
    part = got.get("restricted")
    if r == 0:
        assert got["count"] == visible and part is None, got
    elif part is None:
        raise AssertionError(f"{got}: a restricted sum of {r} shown as exact")
    elif series_hidden:
        assert part["count"] is None and part["suppressed"], got
        assert got["count"] == (visible or None), got
    else:
        step = 10 ** max(0, len(str(r)) - 2)
        assert part["count"] == r // step * step, (got, r)
        assert got["count"] == visible + part["count"], got


def check_block(got: dict[str, Any], visible: dict[str, int], counted: dict[str, int],
                k: int = 10) -> None:
    """A count block (subjects ... bytes) against the oracle's counts of both views."""
    for unit in ("subjects", "studies", "series"):
        check_protected(got[unit], visible[unit], counted[unit], k)
    hidden = counted["series"] - visible["series"] in range(1, k)
    for unit in ("instances", "bytes"):
        check_sum(got[unit], visible[unit], counted[unit], hidden)


class AsgiClient:
    """A synchronous face over ``httpx.ASGITransport`` (the app in-process)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, url: str, token: str | None = None,
                headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=("10.9.8.7", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="http://asgi") as c:
                return await c.request(method, url, headers=headers, **kw)

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: the usual case
            return asyncio.run(go())
        # a loop already runs here (a test worker that ran Playwright's sync API earlier
        # keeps one): run the request's own loop in a thread of its own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, go()).result()

    def post(self, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("POST", url, token, **kw)

    def get(self, url: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.request("GET", url, token, **kw)
