"""Benchmark: a whole-index export through ``ihub serve`` (POST /api/v1/export, streamed):
series per second, and the server's memory while it streams.

Memory is the server's anonymous resident memory (``RssAnon`` in /proc/PID/status, i.e. its
Python heap, not the memory-mapped index files), sampled every 10 ms during the export, minus
its value just before (after a small export has loaded the generation). For comparison the
script also measures, in its own process, what holding every hit of the same export at once
costs (``list(store.records(...))``), unless ``--no-compare``.

    .venv/bin/python bench/bench_export.py [--series 100000] [--formats csv,jsonl,s5cmd]
    IHUB_HOME=$PWD/.ihub-home .venv/bin/python bench/bench_export.py --home   # a real index
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imaging_hub.schemas.query import CohortQuery  # noqa: E402
from imaging_hub.store.embedded import EmbeddedStore  # noqa: E402
from tests.conftest import start_server  # noqa: E402
from tests.store import synthetic as syn  # noqa: E402


def anon_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon")


def build(home: Path, n: int) -> None:
    records = [syn.series("alpha", ("lungs", "brains", "slides")[i % 3], f"P{i % 5000}",
                          f"1.4.{i % 40000}", f"1.4.{i % 40000}.{i}",
                          modality=("CT", "MR", "PT")[i % 3],
                          description=("Axial T1 post contrast", "CHEST CT low dose", None)[i % 3],
                          body_part=("CHEST", "HEAD", None)[i % 3], age=float(i % 90))
               for i in range(n)]
    EmbeddedStore(home / "index").publish(syn.result("alpha", records, list(syn.COLLECTIONS)))


def export(url: str, pid: int, fmt: str) -> tuple[float, int, int, int, int]:
    """(seconds, bytes, lines, RssAnon before, peak RssAnon) of one whole export."""
    with httpx.Client(base_url=url, timeout=3600) as client:
        before = anon_rss(pid)
        peak, done = [before], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], anon_rss(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        size = lines = 0
        start = time.perf_counter()
        try:
            with client.stream("POST", "/api/v1/export", json={"format": fmt}) as got:
                got.raise_for_status()
                for chunk in got.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
        finally:
            done.set()
            sampler.join()
        return time.perf_counter() - start, size, lines, before, peak[0]


def held_at_once(home: Path) -> tuple[int, int]:
    """(hits, RssAnon growth) of holding every hit of a whole export in a list."""
    store = EmbeddedStore(home / "index")
    with store.records(CohortQuery()) as stream:
        next(iter(stream), None)
    before = anon_rss(os.getpid())
    with store.records(CohortQuery()) as stream:
        hits = list(stream)
    return len(hits), anon_rss(os.getpid()) - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--home", action="store_true", help="export $IHUB_HOME's index")
    parser.add_argument("--formats", default="csv,jsonl,s5cmd")
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()
    if args.home:
        home = Path(os.environ["IHUB_HOME"])
    else:
        home = Path(tempfile.mkdtemp(prefix="ihub-export-bench-"))
        t = time.perf_counter()
        build(home, args.series)
        print(f"built {args.series:,} synthetic series in {time.perf_counter() - t:.1f} s")
    live = start_server(home)
    try:
        with httpx.Client(base_url=live.url, timeout=600) as client:  # load the generation
            client.post("/api/v1/search", json={"page": {"size": 1}}).raise_for_status()
            client.post("/api/v1/export", json={"format": "csv", "filters": {
                "series_uid": ["none"]}}).raise_for_status()
        for fmt in args.formats.split(","):
            secs, size, lines, before, peak = export(live.url, live.proc.pid, fmt)
            print(f"{fmt:6s} {lines:>10,} lines  {size / 1e6:8.1f} MB  {secs:7.1f} s  "
                  f"{lines / secs:8,.0f} lines/s  server RssAnon {before / 2**20:.0f} MiB "
                  f"-> peak {peak / 2**20:.0f} MiB (+{(peak - before) / 2**20:.1f} MiB)")
    finally:
        live.proc.terminate()
        live.proc.wait(timeout=30)
    if not args.no_compare:
        n, growth = held_at_once(home)
        print(f"for comparison: {n:,} hits held at once in one list: RssAnon "
              f"+{growth / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
