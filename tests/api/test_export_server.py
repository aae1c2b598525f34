"""Exports through a real ``ihub serve`` process: a 40,000-series export streamed whole with
bounded memory (the server's anonymous resident memory sampled while it streams), and an
export that keeps reading its generation while another is published."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.embedded import EmbeddedStore
from tests.conftest import LiveServer, serving
from tests.store import synthetic as syn

N = 40_000
# Holding every hit of an export at once takes 6-7 KB a series (measured: 100,000 hits held
# in a list, +589 to +696 MiB), about 250 MiB here; streamed, the server holds one chunk
# (2,000 hits) at a time.
MAX_GROWTH = 96 * 2**20


def _records(n: int) -> list[SeriesRecord]:
    return [syn.series("alpha", ("lungs", "brains", "slides")[i % 3], f"P{i % 3000}",
                       f"1.4.{i % 15000}", f"1.4.{i % 15000}.{i}", modality=("CT", "MR")[i % 2],
                       description=("Axial T1 post contrast", "CHEST CT low dose", None)[i % 3],
                       body_part=("CHEST", "HEAD", None)[i % 3], age=float(i % 90))
            for i in range(n)]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    home = tmp_path_factory.mktemp("big-export")
    EmbeddedStore(home / "index").publish(syn.result("alpha", _records(N),
                                                     list(syn.COLLECTIONS)))
    with serving(home) as live:
        yield live, home


def _anon_rss(pid: int) -> int:
    """Anonymous resident memory of a process (its heap: not the memory-mapped index)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon in /proc status")


def test_a_large_export_streams_whole_with_bounded_memory(
        big: tuple[LiveServer, Path]) -> None:
    live, _ = big
    pid = live.proc.pid
    with live.client() as client:
        client.post("/api/v1/search", json={"page": {"size": 1}})  # loads the generation
        small = client.post("/api/v1/export", json={"format": "csv", "filters": {
            "series_uid": ["1.4.7.7"]}})
        assert small.status_code == 200 and len(small.text.splitlines()) == 2
        before = _anon_rss(pid)
        peak, done = [before], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _anon_rss(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        body = io.BytesIO()
        try:
            with client.stream("POST", "/api/v1/export", json={"format": "csv"},
                               timeout=600) as got:
                assert got.status_code == 200
                assert got.headers["x-series-matched"] == str(N)
                chunks = 0
                for chunk in got.iter_bytes():
                    body.write(chunk)
                    chunks += 1
        finally:
            done.set()
            sampler.join()
    rows = list(csv.DictReader(io.StringIO(body.getvalue().decode(), newline="")))
    assert len(rows) == N and len({r["series_uid"] for r in rows}) == N
    assert chunks > 10  # it arrived as a stream, not as one buffered answer
    growth = peak[0] - before
    print(f"\nexport of {N} series, {body.tell() / 1e6:.1f} MB of CSV: server anonymous RSS "
          f"{before / 2**20:.0f} MiB before, peak {peak[0] / 2**20:.0f} MiB "
          f"(+{growth / 2**20:.1f} MiB)")
    assert growth < MAX_GROWTH


def test_an_export_keeps_its_generation_while_another_is_published(
        big: tuple[LiveServer, Path]) -> None:
    live, home = big
    store = EmbeddedStore(home / "index")
    old = store.generation_name()
    received = 0
    lines: list[bytes] = []
    with httpx.Client(base_url=live.url, timeout=600) as client:
        with client.stream("POST", "/api/v1/export", json={"format": "jsonl"}) as got:
            assert got.headers["x-index-generation"] == old
            for line in got.iter_lines():
                lines.append(line.encode())
                received += 1
                if received == 100:  # mid-export: alpha is replaced by 50 series
                    store.publish(syn.result("alpha", _records(50), run="run-2"))
                    assert store.generation_name() != old
        trailer = json.loads(lines[-1])["_export"]
        assert trailer["generation"] == old and trailer["written"] == N
        assert len({json.loads(x)["series_uid"] for x in lines[:-1]}) == N
        fresh = client.post("/api/v1/export", json={"format": "jsonl"})
        assert fresh.headers["x-index-generation"] != old
        assert len(fresh.text.splitlines()) == 50 + 1
