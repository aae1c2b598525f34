"""The Gen3 services a harvest reads, over one injected ``httpx.Client`` whose base URL is
the commons' root (``https://data.midrc.org``) and whose auth is ``FenceAuth`` (or none for
a public commons):

* Guppy, behind the commons' reverse proxy at ``/guppy``:
  ``POST /guppy/graphql`` ``{"query", "variables"}`` for ``_mapping { TYPE }`` (a type's
  fields), ``_aggregation { TYPE(filter, accessibility) { _totalCount } }`` and raw rows
  ``TYPE(first, offset, filter, sort, accessibility) { fields }``. Guppy refuses a raw query
  with ``offset + first > 10000`` (its Elasticsearch window, ``SCROLL_PAGE_SIZE``), so a
  type with more rows than that is read with ``POST /guppy/download``
  ``{"type", "fields", "filter", "sort", "accessibility"}``, which scrolls the whole index
  server-side and answers one JSON array.
* The metadata service: ``GET /mds/metadata?data=True&_guid_type=...&limit=&offset=``
  answers a JSON object GUID -> metadata, at most ``limit`` (capped at 2000) per page.
* indexd's DRS endpoint ``GET /ga4gh/drs/v1/objects/{guid}`` (a DRS object with
  ``self_uri``), used to check that the GUIDs we store resolve.

Queries are data: the GraphQL text only names the type and fields (validated identifiers
from the mapping), every value travels as a variable.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from imaging_hub.errors import ConfigError, SourceFormatError, SourceUnavailable
from imaging_hub.indexers.http import (
    HttpSettings,
    download,
    json_array_items,
    request_json,
    send,
)

GUPPY_WINDOW = 10_000  # Guppy's SCROLL_PAGE_SIZE: offset + first may not exceed it
MDS_MAX_LIMIT = 2_000  # metadata-service METADATA_QUERY_RESULTS_LIMIT default
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
Row = dict[str, Any]


class GuppyQueryError(SourceFormatError):
    """Guppy answered a query with GraphQL errors (unknown type or field, window, access)."""


def _name(value: str) -> str:
    if not NAME.match(value):
        raise ConfigError(f"not a Guppy type or field name: {value!r}")
    return value


@dataclass
class GuppyClient:
    """Guppy's GraphQL and download endpoints."""

    client: httpx.Client
    settings: HttpSettings = field(default_factory=HttpSettings)
    page_size: int = 1_000
    accessibility: str = "accessible"
    window: int = GUPPY_WINDOW

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL query; its ``data``. Raises ``GuppyQueryError`` with Guppy's
        messages when it answers errors (HTTP 400 for validation, 200 with ``errors`` for
        refusals at run time), ``SourceUnavailable`` when it cannot be reached."""
        response = send(self.client, "POST", "guppy/graphql",
                        body={"query": query, "variables": variables or {}},
                        settings=self.settings)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("errors"):
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                 for e in payload["errors"])
            raise GuppyQueryError(f"Guppy refused the query (HTTP {response.status_code}): "
                                  f"{messages}")
        if response.status_code != 200 or not isinstance(payload, dict) \
                or not isinstance(payload.get("data"), dict):
            raise SourceUnavailable(f"POST {response.request.url} answered HTTP "
                                    f"{response.status_code}: {response.text[:200]}")
        data: dict[str, Any] = payload["data"]
        return data

    def mapping(self, types: list[str]) -> dict[str, list[str]]:
        """Each type's field names (``_mapping``)."""
        data = self.graphql("query { _mapping { " + " ".join(map(_name, types)) + " } }")
        fields = data.get("_mapping")
        if not isinstance(fields, dict):
            raise SourceFormatError("Guppy _mapping: expected an object of field lists")
        return {t: [str(f) for f in fields.get(t) or []] for t in types}

    def total(self, type_: str, filter_: dict[str, Any] | None,
              accessibility: str | None = None) -> int:
        """Rows of ``type_`` matching ``filter_`` that the caller may read."""
        query = ("query ($filter: JSON, $acc: Accessibility) { _aggregation { "
                 + _name(type_) + "(filter: $filter, accessibility: $acc) { _totalCount } } }")
        data = self.graphql(query, {"filter": filter_,
                                    "acc": accessibility or self.accessibility})
        try:
            count = data["_aggregation"][type_]["_totalCount"]
        except (KeyError, TypeError) as exc:
            raise SourceFormatError(f"Guppy _aggregation {type_}: no _totalCount") from exc
        if not isinstance(count, int) or count < 0:
            raise SourceFormatError(f"Guppy _aggregation {type_}: _totalCount is {count!r}")
        return count

    def page(self, type_: str, fields: list[str], filter_: dict[str, Any] | None,
             sort: list[dict[str, str]], offset: int, first: int) -> list[Any]:
        """One page of raw rows (``offset + first`` within Guppy's window)."""
        query = ("query ($filter: JSON, $sort: JSON, $first: Int, $offset: Int, "
                 "$acc: Accessibility) { " + _name(type_) + "(filter: $filter, sort: $sort, "
                 "first: $first, offset: $offset, accessibility: $acc) { "
                 + " ".join(map(_name, fields)) + " } }")
        data = self.graphql(query, {"filter": filter_, "sort": sort, "first": first,
                                    "offset": offset, "acc": self.accessibility})
        rows = data.get(type_)
        if not isinstance(rows, list):
            raise SourceFormatError(f"Guppy {type_}: expected a list of rows")
        return rows

    def download(self, type_: str, fields: list[str], filter_: dict[str, Any] | None,
                 sort: list[dict[str, str]]) -> Iterator[Any]:
        """Every matching row through ``/guppy/download`` (no window). Guppy answers the
        whole index as one JSON array: it goes to a temporary file as it arrives, and the
        rows are read from there one at a time, so memory holds a row, not the index."""
        body: dict[str, Any] = {"type": _name(type_), "fields": [_name(f) for f in fields],
                                "accessibility": self.accessibility}
        if filter_:
            body["filter"] = filter_
        if sort:
            body["sort"] = sort
        with tempfile.TemporaryFile(prefix="ihub-guppy-") as f:
            download(self.client, "POST", "guppy/download", f, body=body,
                     settings=self.settings)
            f.seek(0)
            yield from json_array_items(f, f"Guppy download {type_}")

    def rows(self, type_: str, fields: list[str], filter_: dict[str, Any] | None,
             sort: list[dict[str, str]], total: int) -> Iterator[Any]:
        """All ``total`` rows: GraphQL pages within the window, ``/download`` past it."""
        if total > self.window:
            yield from self.download(type_, fields, filter_, sort)
            return
        offset = 0
        while offset < total:
            first = min(self.page_size, self.window - offset)
            page = self.page(type_, fields, filter_, sort, offset, first)
            yield from page
            if len(page) < first:
                return  # fewer rows than counted: the caller compares what it received
            offset += len(page)


@dataclass
class MdsClient:
    """The metadata service's query endpoint."""

    client: httpx.Client
    settings: HttpSettings = field(default_factory=HttpSettings)
    limit: int = 500

    def records(self, guid_type: str) -> Iterator[tuple[str, Any]]:
        """(GUID, metadata) of every record with ``_guid_type == guid_type``, paged."""
        limit = min(self.limit, MDS_MAX_LIMIT)
        offset = 0
        while True:
            page = request_json(self.client, "GET", "mds/metadata", params={
                "data": "True", "_guid_type": guid_type, "limit": limit, "offset": offset},
                settings=self.settings)
            if page is None:
                return
            if not isinstance(page, dict):
                raise SourceFormatError("mds/metadata?data=True: expected an object GUID -> "
                                        "metadata")
            yield from page.items()
            if len(page) < limit:
                return
            offset += len(page)


@dataclass
class DrsClient:
    """indexd's GA4GH DRS endpoint."""

    client: httpx.Client
    settings: HttpSettings = field(default_factory=HttpSettings)

    def object(self, guid: str) -> dict[str, Any] | None:
        """The DRS object of ``guid``; ``None`` when the commons does not know it (404)."""
        response = send(self.client, "GET", f"ga4gh/drs/v1/objects/{quote(guid, safe='/')}",
                        settings=self.settings)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceUnavailable(f"GET {response.request.url} answered HTTP "
                                    f"{response.status_code}: {response.text[:200]}")
        try:
            obj = response.json()
        except ValueError as exc:
            raise SourceFormatError(f"GET {response.request.url}: not JSON") from exc
        if not isinstance(obj, dict):
            raise SourceFormatError(f"GET {response.request.url}: not a DRS object")
        return obj
