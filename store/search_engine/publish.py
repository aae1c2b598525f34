"""Publishing one source's harvest to the cluster as a new generation.

    lock -> read the served records back, page by page -> merge and link subjects in an
    on-disk DuckDB (store/merge.py, shared; memory bounded) -> create the generation's
    indices (no replicas, no refresh) -> bulk load, counting every item that failed;
    each loaded index merged to one segment per shard and refreshed while the next loads,
    the publisher's local copy written while the last one is -> add replicas, wait for
    health -> check document counts -> swap every alias in one atomic request -> drop
    generations older than the previous one -> unlock

Until the alias swap nothing of the new generation is visible; a failed or partial load
deletes its indices and raises, and the previous generation keeps answering.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from imaging_hub.errors import StoreError
from imaging_hub.indexers.base import HarvestResult
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.store.merge import Merged, Published, merging
from imaging_hub.store.search_engine import docs, mapping
from imaging_hub.store.search_engine.client import JSON, EngineClient
from imaging_hub.store.search_engine.local_copy import LocalCopies

LOCK_WAIT_S = 600
LOCK_STALE_S = 6 * 3600
READ_PAGE = 2000
KEEP_GENERATIONS = 2
HEALTH_WAIT_S = 180
MERGE_WAIT_S = 3 * 3600  # merging a generation's shards to one segment each
BULK_SENDERS = 2  # bulk requests in flight: one is built while the engine indexes another


def new_generation_name() -> str:
    return f"g{datetime.now(UTC):%Y%m%dt%H%M%S%f}-{secrets.token_hex(2)}"


@contextmanager
def publish_lock(client: EngineClient, prefix: str) -> Iterator[None]:
    """A cluster-wide lock (a document created only if absent) so two publishers never build
    on the same generation; a lock older than ``LOCK_STALE_S`` is taken over."""
    index, owner = f"{prefix}-lock", f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    client.request("PUT", f"/{index}", {"settings": {"index": {"number_of_shards": 1}}},
                   ignore=(400,))
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        body = {"owner": owner, "at": time.time()}
        if client.request("PUT", f"/{index}/_create/publish", body, {"refresh": "true"},
                          ignore=(409,)) is not None:
            break
        held = client.request("GET", f"/{index}/_doc/publish", ignore=(404,))
        if held and time.time() - held["_source"]["at"] > LOCK_STALE_S:
            client.request("DELETE", f"/{index}/_doc/publish", ignore=(404,))
            continue
        if time.monotonic() > deadline:
            raise StoreError(f"another publish holds {index} ({held and held['_source']})")
        time.sleep(1)
    try:
        yield
    finally:
        client.request("DELETE", f"/{index}/_doc/publish", params={"refresh": "true"},
                       ignore=(404,))


def served_generation(client: EngineClient, prefix: str) -> str | None:
    """The generation the aliases point at, or None before the first publish."""
    got = client.request("GET", f"/_alias/{mapping.alias_name(prefix, 'meta')}", ignore=(404,))
    if not got:
        return None
    return str(next(iter(got))).split("-meta-", 1)[1]


def read_meta(client: EngineClient, prefix: str, generation: str) -> JSON:
    doc = client.request("GET", f"/{mapping.index_name(prefix, 'meta', generation)}/_doc/meta")
    result: JSON = doc["_source"]
    return result


def scan(client: EngineClient, index: str, body: JSON, key: str) -> Iterator[JSON]:
    """Every hit of ``body`` on ``index`` (point in time + search_after on ``key``)."""
    pit = client.open_pit(index, "5m")
    try:
        after: list[Any] | None = None
        while True:
            page = {**body, "size": READ_PAGE, "pit": {"id": pit, "keep_alive": "5m"},
                    "sort": [{key: "asc"}]}
            if after is not None:
                page["search_after"] = after
            hits = client.search(None, page)["hits"]["hits"]
            yield from hits
            if len(hits) < READ_PAGE:
                return
            after = hits[-1]["sort"]
    finally:
        client.close_pit(pit)


def read_series(client: EngineClient, prefix: str, generation: str) -> Iterator[pa.Table]:
    """The served generation's series records, a page of documents at a time."""
    rows: list[JSON] = []
    for hit in scan(client, mapping.index_name(prefix, "series", generation),
                    {"_source": ["r"]}, "key"):
        for r in hit["_source"]["r"]:
            row = {c: r.get(c) for c in SERIES_SCHEMA.names}
            row["study_date"] = date.fromisoformat(row["study_date"]) \
                if row["study_date"] else None
            row["harvested_at"] = datetime.fromisoformat(row["harvested_at"])
            rows.append(row)
        if len(rows) >= READ_PAGE:
            yield pa.Table.from_pylist(rows, schema=SERIES_SCHEMA)
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=SERIES_SCHEMA)


def read_collections(client: EngineClient, prefix: str, generation: str) -> pa.Table:
    """The served generation's collection records."""
    colls = [docs.collection_from_doc(h["_source"]) for h in scan(
        client, mapping.index_name(prefix, "coll", generation), {}, "id")]
    coll_rows = []
    for f in colls:
        row = {k: f[k] for k in ("id", "source", "collection", "name", "description",
                                 "disease_type", "primary_site", "species", "subjects",
                                 "program", "status", "updated", "doi", "citation")}
        a, p = f["access"], f["provenance"]
        row.update(access=a.tier, license=a.license, license_url=a.license_url,
                   commercial_use=a.commercial_use, source_version=p.source_version,
                   harvested_at=p.harvested_at, run_id=p.run_id)
        coll_rows.append(row)
    return pa.Table.from_pylist(coll_rows, schema=COLLECTION_SCHEMA)


def publish(client: EngineClient, prefix: str, result: HarvestResult, source_type: str,
            shards: int, replicas: int | None, copies: LocalCopies | None = None,
            ) -> Published:
    """Load ``result`` merged with the served records as a new generation and switch to it;
    ``copies``: where this publisher keeps a copy of what it published (read instead of
    the cluster when it is the served generation's). Raises ``StoreError``; the served
    generation then stays."""
    with publish_lock(client, prefix):
        served = served_generation(client, prefix)
        old_s: Iterable[pa.Table] = [SERIES_SCHEMA.empty_table()]
        old_c, sources = COLLECTION_SCHEMA.empty_table(), {}
        if served:
            meta = read_meta(client, prefix, served)
            sources = meta["sources"]
            old_s = ((copies and copies.read(served, int(meta.get("series", -1))))
                     or read_series(client, prefix, served))
            old_c = read_collections(client, prefix, served)
        gen = new_generation_name()
        with merging(old_s, old_c, sources, result, source_type, spill=True) as merged:
            try:
                pending = _load(client, prefix, gen, merged, shards, replicas,
                                partial(copies.write, merged.con, gen) if copies else None)
                _swap(client, prefix, served, gen)
            except BaseException:
                _drop(client, prefix, gen)
                if copies:
                    LocalCopies.discard(copies.pending(gen))
                raise
        if copies and pending:
            copies.keep(pending, gen)
        collect_garbage(client, prefix)
    return Published(gen, merged.report)


def _load(client: EngineClient, prefix: str, gen: str, merged: Merged, shards: int,
          replicas: int | None, while_settling: Callable[[], Path | None] | None = None,
          ) -> Path | None:
    """Create, load, settle and check the generation's indices; ``while_settling`` runs
    once every document is sent, while the engine still merges and refreshes the last
    index on one thread (a core the publisher would leave idle): its answer is returned."""
    names = {k: mapping.index_name(prefix, k, gen) for k in mapping.KINDS}
    for kind, name in names.items():
        client.request("PUT", f"/{name}", {
            "settings": mapping.settings(shards if kind in mapping.LEVEL_INDICES else 1, 0,
                                         kind),
            "mappings": mapping.mapping_of(kind)})
    colls = merged.collections
    rows = docs.Rows(merged)
    expected = {"coll": colls.num_rows, "meta": 1}
    _bulk(client, docs.collection_docs(colls, names["coll"]), gen)
    # one level at a time: loading the three side by side measured no faster on two
    # cores (the engine is the bottleneck) and held a gigabyte more; each loaded index is
    # settled (_settle) in the background while the next one loads
    settling = ThreadPoolExecutor(max_workers=1, thread_name_prefix="settle")
    settled = [settling.submit(_settle, client, names["coll"])]
    try:
        for level in mapping.LEVEL_INDICES:
            _bulk(client, _counting(rows.level_docs(level), expected, level), gen,
                  index=names[level])
            settled.append(settling.submit(_settle, client, names[level]))
        meta = {"generation": gen, "layout": mapping.LAYOUT_VERSION,
                "multi_copy_series": rows.multi_copy_series(),
                "created_at": datetime.now(UTC).isoformat(),
                "series": merged.series_count, "collections": colls.num_rows,
                "sources": merged.sources}
        _bulk(client, [{"_index": names["meta"], "_id": "meta", "_source": meta}], gen)
        settled.append(settling.submit(_settle, client, names["meta"]))
        done_meanwhile = while_settling() if while_settling else None
        for done in settled:
            done.result()
    finally:  # on failure: what is queued is dropped, what runs ends before the indices do
        settling.shutdown(wait=True, cancel_futures=True)
    _finish(client, names, expected, replicas)
    return done_meanwhile


def _settle(client: EngineClient, index: str) -> None:
    """Merge each shard of a loaded index to one segment, then refresh it.

    A generation is never written again once loaded, so it is merged before it is served
    (and before its replicas copy it): searches then read one segment per shard instead
    of the several that loading left, and facets group on segment ordinals (measured on
    all of IDC: about a fifth less engine time per question). The merge first writes what
    the engine still buffers; the refresh after it opens the merged segment for searches
    and lets the engine delete the ones it replaced (a refresh before it would open those
    and build the facets' global ordinals over them, to be dropped). The engine writes and
    merges an index's segments on a single thread, so this runs beside the next index's
    load instead of after every load, where it left one core of two idle (README,
    Benchmarks)."""
    client.request("POST", f"/{index}/_forcemerge", params={"max_num_segments": 1},
                   timeout=MERGE_WAIT_S)
    client.request("POST", f"/{index}/_refresh")


def _bulk(client: EngineClient, stream: Iterable[JSON | str], gen: str,
          index: str | None = None) -> None:
    """Load one stream; stop at the first chunk with failed items (the generation is then
    dropped, so loading more is pointless) and raise, counting failures by reason."""
    failed: Counter[str] = Counter()
    for ok, item in client.bulk(stream, senders=BULK_SENDERS, index=index):
        if ok:
            if failed:
                break
            continue
        info = next(iter(item.values())) if isinstance(item, dict) else {}
        err = info.get("error") if isinstance(info, dict) else None
        failed[(err or {}).get("type", str(err)[:80]) if isinstance(err, dict)
               else str(err or item)[:80]] += 1
    if failed:
        raise StoreError(f"bulk load of generation {gen} failed for at least "
                         f"{sum(failed.values())} documents: {dict(failed)}; the served "
                         f"generation is unchanged")


def _counting(stream: Iterator[str], expected: dict[str, int], kind: str) -> Iterator[str]:
    expected[kind] = 0
    for doc in stream:
        expected[kind] += 1
        yield doc


def _finish(client: EngineClient, names: dict[str, str], expected: dict[str, int],
            replicas: int | None) -> None:
    """Add replicas to the settled indices, wait until the cluster holds them, check the
    counts."""
    every = ",".join(names.values())
    nodes = int(client.request("GET", "/_cluster/health")["number_of_nodes"])
    want = min(1, nodes - 1) if replicas is None else replicas
    client.request("PUT", f"/{every}/_settings", {"index": {
        "number_of_replicas": want, "refresh_interval": "30s",
        "translog.durability": "request"}})
    status = "green" if want < nodes else "yellow"
    deadline = time.monotonic() + HEALTH_WAIT_S
    while True:  # "timeout" goes in the path: opensearch-py reads a "timeout" param itself
        health = client.request(  # a wait that timed out answers 408
            "GET", f"/_cluster/health/{every}?wait_for_status={status}&timeout=5s",
            ignore=(408,)) or {"timed_out": True}
        if not health.get("timed_out"):
            break
        if time.monotonic() > deadline:
            raise StoreError(f"the new generation did not reach {status} health in "
                             f"{HEALTH_WAIT_S} s ({health.get('status')})")
    for kind, name in names.items():
        got = int(client.request("GET", f"/{name}/_count")["count"])
        if got != expected[kind]:
            raise StoreError(f"{name} holds {got} documents, {expected[kind]} were sent")


def _swap(client: EngineClient, prefix: str, served: str | None, gen: str) -> None:
    """Point every alias at the new generation in one atomic request."""
    actions: list[JSON] = []
    for kind in mapping.KINDS:
        alias = mapping.alias_name(prefix, kind)
        if served:
            actions.append({"remove": {"index": mapping.index_name(prefix, kind, served),
                                       "alias": alias}})
        actions.append({"add": {"index": mapping.index_name(prefix, kind, gen),
                                "alias": alias}})
    client.request("POST", "/_aliases", {"actions": actions})


def _drop(client: EngineClient, prefix: str, gen: str) -> None:
    # the cluster may be down: collect_garbage removes it later
    with contextlib.suppress(StoreError):
        names = ",".join(mapping.index_name(prefix, k, gen) for k in mapping.KINDS)
        client.request("DELETE", f"/{names}", params={"ignore_unavailable": "true"},
                       ignore=(404,))


def collect_garbage(client: EngineClient, prefix: str) -> list[str]:
    """Delete every generation but the served one and the one before it (open paging
    tokens, quick rollback), including leftovers of publishes that died. Called under the
    publish lock, so no generation being loaded is touched."""
    listing = client.request("GET", f"/_cat/indices/{prefix}-*-g*",
                             params={"format": "json", "h": "index"}) or []
    gens = sorted({i["index"][len(f"{prefix}-{kind}-"):] for i in listing
                   for kind in mapping.KINDS if i["index"].startswith(f"{prefix}-{kind}-g")})
    served = served_generation(client, prefix)
    older = [g for g in gens if served is not None and g < served]
    keep = {served, *older[-(KEEP_GENERATIONS - 1):]} if KEEP_GENERATIONS > 1 else {served}
    removed = [g for g in gens if g not in keep]
    for g in removed:
        _drop(client, prefix, g)
    return removed
