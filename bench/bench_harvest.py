"""Benchmark: full IDC harvest (normalise 1M+ series, build and publish a generation).

Prints ours beside two peers from the same run, as ratios:
  * DuckDB loading the same parquet into a native table (the floor of any load), and
  * idc-index's ``IDCClient()`` cold start (what IDC users wait for before a first query).

    .venv/bin/python bench/bench_harvest.py [--runs 3] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import idc_index_data

from imaging_hub.config import Settings
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.idc import IdcSource

TARGET_S = 60.0


def time_ours(runs: int) -> tuple[list[float], int]:
    times, series = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            t0 = time.perf_counter()
            report = run_harvest(Settings(home=Path(home)), "idc", IdcSource())
            times.append(time.perf_counter() - t0)
            series = report.series
    return times, series


def time_duckdb_load(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        con = duckdb.connect()
        con.execute("SET threads = 2")
        t0 = time.perf_counter()
        con.execute("CREATE TABLE t AS SELECT * FROM read_parquet($p)",
                    {"p": str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)})
        times.append(time.perf_counter() - t0)
        con.close()
    return times


def time_idc_index_cold() -> float | None:
    """``IDCClient()`` in a fresh interpreter (import + index load), or None if absent."""
    code = "import time; t=time.perf_counter(); from idc_index import IDCClient; IDCClient(); " \
           "print(time.perf_counter()-t)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, check=False)
    if proc.returncode != 0:
        print(f"idc-index unavailable: {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    ours, series = time_ours(args.runs)
    floor = time_duckdb_load(args.runs)
    cold = time_idc_index_cold()
    ours_med, floor_med = statistics.median(ours), statistics.median(floor)
    print(f"series harvested:               {series:,}")
    print(f"imaging-hub harvest+publish:    median {ours_med:6.1f} s  runs "
          f"{', '.join(f'{t:.1f}' for t in ours)}  (target <= {TARGET_S:.0f} s)")
    print(f"DuckDB CREATE TABLE from parquet: median {floor_med:6.1f} s  "
          f"(ours / floor = {ours_med / floor_med:.1f}x)")
    if cold is not None:
        print(f"idc-index IDCClient() cold start: {cold:6.1f} s  "
              f"(ours / idc-index = {ours_med / cold:.1f}x)")
    result = {"series": series, "ours_s": ours, "duckdb_load_s": floor,
              "idc_index_cold_s": cold, "target_s": TARGET_S, "ok": ours_med <= TARGET_S}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0 if ours_med <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
