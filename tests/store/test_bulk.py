"""The bulk loader of the search-engine backends: several senders over one stream deliver
every action once, and a document the engine refuses fails the load with its reason counted
(real nodes, both engines)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from imaging_hub.errors import StoreError
from imaging_hub.store.search_engine import publish
from imaging_hub.store.search_engine.client import EngineClient, _fan_out, _Shared
from tests.store.backends import engine_settings


def echo(shared: _Shared) -> Iterator[tuple[bool, dict[str, Any]]]:
    for i, action in enumerate(shared):
        if i % 7 == 0:  # let the other sender in, as a wait on the engine would
            threading.Event().wait(0.001)
        yield True, action


def test_several_senders_deliver_every_action_once() -> None:
    actions = [{"n": i} for i in range(5_000)]
    got = [item["n"] for _, item in _fan_out(iter(actions), 3, echo)]
    assert sorted(got) == list(range(5_000))


def test_an_error_reading_the_stream_reaches_the_caller() -> None:
    def stream() -> Iterator[dict[str, Any]]:
        yield from ({"n": i} for i in range(100))
        raise RuntimeError("the records could not be read")

    with pytest.raises(RuntimeError, match="could not be read"):
        list(_fan_out(stream(), 2, echo))
    assert not [t for t in threading.enumerate() if t.name.startswith("bulk-")]


def test_closing_early_stops_every_sender() -> None:
    taken: list[int] = []

    def stream() -> Iterator[dict[str, Any]]:
        for i in range(1_000_000):
            taken.append(i)
            yield {"n": i}

    results = _fan_out(stream(), 2, echo)
    for _ in range(10):
        next(results)
    results.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("bulk-")]
    assert len(taken) < 100_000  # the stream was not read to its end


@pytest.mark.parametrize("kind", ["opensearch", "elasticsearch"])
def test_a_refused_document_fails_the_load_with_its_reason(
        request: pytest.FixtureRequest, kind: str) -> None:
    client = EngineClient(engine_settings(request, kind))
    index = f"{client.settings.index_prefix}-bulk"
    client.request("PUT", f"/{index}", {"mappings": {"properties": {
        "n": {"type": "long"}}}})
    good = [{"_index": index, "_source": json.dumps({"n": i})} for i in range(3_000)]
    bad = {"_index": index, "_source": json.dumps({"n": "not a number"})}
    refused = r"at least 1 documents: \{'(mapper|document)_parsing_exception': 1\}"
    with pytest.raises(StoreError, match=refused):
        publish._bulk(client, iter([*good[:1_500], bad, *good[1_500:]]), "g-test")
    publish._bulk(client, iter(good), "g-test")  # the same load without it goes through
    client.request("POST", f"/{index}/_refresh")
    assert client.request("GET", f"/{index}/_count")["count"] >= 3_000
    client.close()
