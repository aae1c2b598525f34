"""One small client over OpenSearch (opensearch-py) and Elasticsearch (elasticsearch-py).

The two servers agree on everything this backend uses (index and alias APIs, nested
mappings, bool/nested/wildcard queries, nested, filter, terms, range and reverse_nested
aggregations, search_after, point in time, bulk), so requests are built once, as data, and
sent through ``request``; only the client construction, the point-in-time endpoints and the
bulk helper differ. Transport failures become ``StoreUnavailable`` (the API answers 503);
a search that only some shards answered is retried, then refused, never returned.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from imaging_hub.config import EngineSettings
from imaging_hub.errors import StoreError, StoreUnavailable

JSON = dict[str, Any]
REQUEST_TIMEOUT = 60
POOL_SIZE = 10  # connections kept per node (the Elasticsearch client's default)
BULK_SHARD_WAIT = "15s"  # how long a bulk item waits for an unavailable shard (default 1m)
PARTIAL_RETRIES = 4
# what a bulk answer carries back per item: its status and error only (the helpers read no
# more; the full answer is about 200 bytes per document for the engine to write and us to parse)
BULK_RESPONSE = "items.*.status,items.*.error"


class EngineClient:
    """Requests to one cluster; ``kind`` is "opensearch" or "elasticsearch"."""

    def __init__(self, settings: EngineSettings) -> None:
        self.kind = settings.kind
        self.settings = settings
        self._client: Any = _build(settings)

    # -- plumbing ---------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None,
                params: dict[str, Any] | None = None, ignore: tuple[int, ...] = (),
                timeout: float | None = None) -> Any:
        """One request; JSON in and out; ``timeout``: seconds to wait for the answer, if
        not the client's. Raises ``StoreUnavailable`` when the cluster cannot answer,
        ``StoreError`` for any other refusal not listed in ``ignore``."""
        try:
            if self.kind == "opensearch":
                return self._client.transport.perform_request(
                    method, path, body=body, params={**(params or {}), **(
                        {"request_timeout": timeout} if timeout else {})})
            headers = {"accept": "application/json", "content-type": "application/json"}
            client = self._client.options(request_timeout=timeout) if timeout \
                else self._client
            response = client.perform_request(
                method, path, params=params or {}, headers=headers, body=body)
            return response.body
        except Exception as exc:  # noqa: BLE001 - both clients' error trees, translated here
            status = _status(exc)
            if status in ignore:
                return None
            if status is None or status in (429, 502, 503, 504):
                raise StoreUnavailable(f"{self.kind} cluster unavailable: {_why(exc)}") from exc
            raise StoreError(f"{self.kind} refused {method} {path}: {_why(exc)}") from exc

    def search(self, index: str | None, body: JSON, **params: Any) -> JSON:
        """A search that every shard answered (retried briefly while shards recover, e.g.
        when a node has just left and replicas are being promoted)."""
        path = f"/{index}/_search" if index else "/_search"
        params.setdefault("allow_partial_search_results", "false")
        for attempt in range(PARTIAL_RETRIES + 1):
            try:
                result: JSON = self.request("POST", path, body, params)
            except StoreUnavailable:
                if attempt == PARTIAL_RETRIES:
                    raise
            else:
                if not _partial(result):
                    return result
                if attempt == PARTIAL_RETRIES:
                    raise StoreUnavailable(f"{self.kind}: only part of the shards answered")
            time.sleep(0.25 * 2 ** attempt)
        raise StoreUnavailable(f"{self.kind}: no complete answer")  # pragma: no cover

    def msearch(self, searches: list[tuple[str, JSON]]) -> list[JSON]:
        """Several searches in one round trip; each must be complete, like ``search``."""
        lines: list[JSON] = []
        for index, body in searches:
            lines += [{"index": index, "allow_partial_search_results": False}, body]
        for attempt in range(PARTIAL_RETRIES + 1):
            try:
                answer = self.request("POST", "/_msearch", _ndjson(lines))
                results: list[JSON] = answer["responses"]
            except StoreUnavailable:
                if attempt == PARTIAL_RETRIES:
                    raise
            else:
                failed = [r for r in results if "error" in r or _partial(r)]
                if not failed:
                    return results
                errors = [r["error"] for r in failed if "error" in r]
                if errors and not all(_transient(e) for e in errors):
                    raise StoreError(f"{self.kind} refused a search: {errors[0]}")
                if attempt == PARTIAL_RETRIES:
                    raise StoreUnavailable(f"{self.kind}: only part of the shards answered")
            time.sleep(0.25 * 2 ** attempt)
        raise StoreUnavailable(f"{self.kind}: no complete answer")  # pragma: no cover

    # -- point in time ----------------------------------------------------------------------
    def open_pit(self, index: str, keep_alive: str) -> str:
        if self.kind == "opensearch":
            r = self.request("POST", f"/{index}/_search/point_in_time",
                             params={"keep_alive": keep_alive})
            return str(r["pit_id"])
        r = self.request("POST", f"/{index}/_pit", params={"keep_alive": keep_alive})
        return str(r["id"])

    def close_pit(self, pit: str) -> None:
        if self.kind == "opensearch":
            self.request("DELETE", "/_search/point_in_time", {"pit_id": [pit]}, ignore=(404,))
        else:
            self.request("DELETE", "/_pit", {"id": pit}, ignore=(404,))

    # -- bulk -------------------------------------------------------------------------------
    def bulk(self, actions: Iterable[JSON | str], chunk_size: int = 1000, senders: int = 1,
             index: str | None = None) -> Iterator[tuple[bool, JSON]]:
        """(ok, item) per action, through the client's streaming bulk helper (chunks by
        count and bytes, retries 429 with exponential backoff). An action is a dictionary
        (``_index``, ``_id``, ``_source``) or a document's JSON text, indexed into
        ``index`` under an id the engine picks. With ``senders`` > 1 that
        many threads each run the helper over one shared stream: while one waits for the
        engine the next chunk is built, and the engine indexes several chunks at once.
        Actions are then loaded in no particular order."""
        if senders <= 1:
            yield from self._streaming_bulk(actions, chunk_size, index)
            return
        yield from _fan_out(actions, senders,
                            lambda shared: self._streaming_bulk(shared, chunk_size, index))

    def _streaming_bulk(self, actions: Iterable[JSON | str], chunk_size: int,
                        index: str | None) -> Iterator[tuple[bool, JSON]]:
        if self.kind == "opensearch":
            from opensearchpy import helpers as os_helpers

            yield from os_helpers.streaming_bulk(
                self._client, actions, chunk_size=chunk_size, max_chunk_bytes=50_000_000,
                raise_on_error=False, raise_on_exception=False, max_retries=6,
                initial_backoff=1, max_backoff=30, request_timeout=REQUEST_TIMEOUT * 2,
                timeout=BULK_SHARD_WAIT, filter_path=BULK_RESPONSE, index=index)
        else:
            from elasticsearch import helpers as es_helpers

            yield from es_helpers.streaming_bulk(
                self._client.options(request_timeout=REQUEST_TIMEOUT * 2), actions,
                chunk_size=chunk_size, max_chunk_bytes=50_000_000, raise_on_error=False,
                raise_on_exception=False, max_retries=6, initial_backoff=1, max_backoff=30,
                timeout=BULK_SHARD_WAIT, filter_path=BULK_RESPONSE, index=index)

    def close(self) -> None:
        self._client.close()


class _Shared:
    """One iterator read by several threads, one item at a time; setting ``stopped`` ends
    it early."""

    def __init__(self, items: Iterable[JSON | str]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()
        self.stopped = False

    def __iter__(self) -> _Shared:
        return self

    def __next__(self) -> JSON | str:
        with self._lock:
            if self.stopped:
                raise StopIteration
            return next(self._items)


_DONE = object()
_RESULT_BATCH = 500  # per-item results travel between threads in lists of this many


def _fan_out(actions: Iterable[JSON | str], senders: int,
             send: Callable[[_Shared], Iterator[tuple[bool, JSON]]],
             ) -> Iterator[tuple[bool, JSON]]:
    """Run ``send`` in ``senders`` threads over one shared stream; yield what they yield.
    An error in a thread (or in reading the stream) is raised here; closing this generator
    early stops the threads after their current chunk."""
    shared = _Shared(actions)
    results: queue.Queue[Any] = queue.Queue(maxsize=4 * senders)

    def run() -> None:
        try:
            batch: list[tuple[bool, JSON]] = []
            for item in send(shared):
                batch.append(item)
                if len(batch) == _RESULT_BATCH:
                    results.put(batch)
                    batch = []
            if batch:
                results.put(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            shared.stopped = True
            results.put(exc)
        finally:
            results.put(_DONE)

    threads = [threading.Thread(target=run, name=f"bulk-{i}", daemon=True)
               for i in range(senders)]
    for t in threads:
        t.start()
    running = senders
    try:
        while running:
            item = results.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield from item
    finally:
        shared.stopped = True
        while running:  # let every thread finish its chunk and end
            if results.get() is _DONE:
                running -= 1
        for t in threads:
            t.join()


def _build(s: EngineSettings) -> Any:
    """The library client for ``s``: every node URL, credentials, CA, timeouts, retries on
    another node when one fails."""
    common: dict[str, Any] = {"verify_certs": s.verify_certs}
    if s.ca_file:
        common["ca_certs"] = str(s.ca_file)
    if s.kind == "opensearch":
        from opensearchpy import OpenSearch

        auth: dict[str, Any] = {}
        if s.username:
            auth["http_auth"] = (s.username, s.password or "")
        if s.api_key:
            auth["headers"] = {"Authorization": f"ApiKey {s.api_key}"}
        # connections kept per node: opensearch-py keeps one unless told (Elasticsearch's
        # client keeps ten), so the bulk senders and a settling thread would each open and
        # drop a connection per request
        return OpenSearch(list(s.urls), timeout=REQUEST_TIMEOUT, max_retries=3,
                          retry_on_timeout=True, retry_on_status=(502, 503, 504),
                          ssl_show_warn=False, pool_maxsize=POOL_SIZE, **common, **auth)
    from elasticsearch import Elasticsearch

    es_auth: dict[str, Any] = {}
    if s.username:
        es_auth["basic_auth"] = (s.username, s.password or "")
    if s.api_key:
        es_auth["api_key"] = s.api_key
    return Elasticsearch(list(s.urls), request_timeout=REQUEST_TIMEOUT, max_retries=3,
                         retry_on_timeout=True, retry_on_status=(502, 503, 504),
                         ssl_show_warn=False, **common, **es_auth)


def _status(exc: Exception) -> int | None:
    """The HTTP status of a client error; None when no answer came (connection, timeout)."""
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    meta = getattr(exc, "meta", None)
    value = getattr(meta, "status", None)
    return value if isinstance(value, int) else None


def _why(exc: Exception) -> str:
    info = getattr(exc, "info", None) or getattr(exc, "body", None)
    if isinstance(info, dict):
        err = info.get("error", info)
        if isinstance(err, dict):
            root = (err.get("root_cause") or [err])[0]
            return f"{root.get('type', '')}: {root.get('reason', '')}".strip(": ")
        return str(err)[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _partial(result: JSON) -> bool:
    shards = result.get("_shards") or {}
    return bool(result.get("timed_out")) or bool(shards.get("failed")) or (
        shards.get("successful", 0) < shards.get("total", 0) - shards.get("skipped", 0))


def _transient(error: Any) -> bool:
    text = str(error)
    return any(k in text for k in ("no_shard_available", "NoShardAvailable",
                                   "search_phase_execution", "node_disconnected",
                                   "node_not_connected", "circuit_breaking"))


def _ndjson(lines: list[JSON]) -> str:
    import json

    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
