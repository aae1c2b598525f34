"""Does a publish need more memory for more series? One run, sizes side by side.

Harvests IDC once (staged, as ``ihub harvest`` does), then for each size publishes that many
series (IDC's own, repeated with suffixed UIDs beyond IDC's 1,044,191) as one source into a
fresh index of the store that ``IHUB_STORE`` names (for a search engine: a fresh index
prefix on the node at ``OPENSEARCH_URL`` / ``ELASTICSEARCH_URL``), each in its own process.
With ``--documents-only`` no engine is needed: the process does everything a search-engine
publish does on our side (merge and link subjects in DuckDB, build every level's documents)
and discards the documents instead of sending them, so large sizes take minutes, not hours.
It samples that process's resident memory every 50 ms and reports the peak RSS and the peak
anonymous RSS (``RssAnon``: the staged records are memory-mapped, and file pages are the
kernel's to drop), the publish's wall time, and the ratio of the largest size's anonymous
peak to the smallest's.

    IHUB_STORE=opensearch OPENSEARCH_URL=http://127.0.0.1:9200 \\
        .venv/bin/python bench/bench_publish_memory.py --work /tmp/pubmem --sizes 250000,1000000
    .venv/bin/python bench/bench_publish_memory.py --work /tmp/pubmem --documents-only \\
        --sizes 1000000,4000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from imaging_hub import staging
from imaging_hub.config import Settings
from imaging_hub.harvest import harvest_and_stage
from imaging_hub.indexers.base import HarvestResult
from imaging_hub.schemas.columnar import COLLECTION_SCHEMA, SERIES_SCHEMA
from imaging_hub.sources import default_sources
from imaging_hub.store.arrowio import read_arrow, write_arrow
from imaging_hub.store.factory import open_store
from imaging_hub.store.merge import merging
from imaging_hub.store.search_engine import docs, mapping

UID_COLUMNS = ("id", "series_uid", "study_uid", "subject_id")


def anon_rss() -> int:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("RssAnon"))
    return int(line.split()[1]) * 1024


def sized(table: pa.Table, n: int) -> pa.Table:
    """``n`` rows: ``table``'s, then copies with every identifier suffixed ``.<copy>``."""
    parts: list[pa.Table] = []
    copy = 0
    while sum(p.num_rows for p in parts) < n:
        part = table.slice(0, n - sum(p.num_rows for p in parts))
        if copy:
            for name in UID_COLUMNS:
                i = part.schema.get_field_index(name)
                part = part.set_column(i, name, pc.binary_join_element_wise(
                    part.column(name), pa.scalar(f"{copy}"), "."))
        parts.append(part)
        copy += 1
    return pa.concat_tables(parts).combine_chunks()


def drain_documents(result: HarvestResult, source_type: str) -> int:
    """A first publish's work on our side, documents built and dropped; how many."""
    built = 0
    with merging([SERIES_SCHEMA.empty_table()], COLLECTION_SCHEMA.empty_table(), {}, result,
                 source_type, spill=True) as merged:
        rows = docs.Rows(merged)
        for level in mapping.LEVEL_INDICES:
            built += sum(1 for _ in rows.level_docs(level))
    return built


def publish_one(staged_dir: Path, n: int, home: Path, documents_only: bool
                ) -> dict[str, object]:
    """In this process: publish ``n`` series of the staged IDC harvest; peaks and time."""
    os.environ["IHUB_HOME"] = str(home)
    os.environ["IHUB_INDEX_PREFIX"] = f"pubmem{n}"
    settings = Settings.from_env()
    result, source_type = staging.load(settings, "idc")
    path = staged_dir / f"series-{n}.arrow"
    if not path.exists():
        write_arrow(sized(result.series, n), path)
    result = replace(result, series=read_arrow(path))  # memory-mapped, as staged files are
    peaks = {"rss": 0, "anon": 0}
    done = threading.Event()

    def sample() -> None:
        import psutil

        proc = psutil.Process()
        while not done.is_set():
            peaks["rss"] = max(peaks["rss"], proc.memory_info().rss)
            peaks["anon"] = max(peaks["anon"], anon_rss())
            time.sleep(0.05)

    base = anon_rss()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.monotonic()
    if documents_only:
        settings = replace(settings, store="documents only")
        drain_documents(result, source_type)
    else:
        open_store(settings).publish(result, source_type)
    seconds = time.monotonic() - start
    done.set()
    thread.join()
    return {"series": n, "store": settings.store, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peaks["rss"] / 1e6),
            "peak_anon_mb": round(peaks["anon"] / 1e6),
            "anon_before_mb": round(base / 1e6)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--sizes", default="250000,1000000")
    ap.add_argument("--documents-only", action="store_true",
                    help="build the search-engine documents and drop them (no engine)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args(argv)
    work = args.work.resolve()
    home = work / "home"
    if args.one:
        print(json.dumps(publish_one(work, args.one, home, args.documents_only)))
        return 0
    work.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env({**os.environ, "IHUB_HOME": str(home),
                                  "IHUB_STORE": "embedded"})
    if not (home / "staging" / "idc").exists():
        harvest_and_stage(settings, "idc", default_sources()["idc"], full=True)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--work", str(work), "--one", str(n),
                              *(["--documents-only"] if args.documents_only else [])],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    small, large = rows[0], rows[-1]
    print(f"{large['series']:,} series need {large['peak_anon_mb']:,} MB anonymous at peak, "
          f"{small['series']:,} need {small['peak_anon_mb']:,} MB: ratio "
          f"{large['peak_anon_mb'] / max(small['peak_anon_mb'], 1):.2f} for "
          f"{large['series'] / small['series']:.1f}x the series")
    return 0


if __name__ == "__main__":
    sys.exit(main())
