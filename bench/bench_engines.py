"""Benchmark: how long scripts/opensearch.sh and scripts/elasticsearch.sh take to give a
ready cluster, and how much memory each node holds.

    .venv/bin/python bench/bench_engines.py [--kind opensearch|elasticsearch|both] [--cold]

Warm: the engine is already in the cache; one node (default heap 1g) and three nodes (512m
each) are started and stopped in a fresh IHUB_HOME. ``--cold`` first starts one node with an
empty engine cache and an empty Maven repository (so mvn also downloads its
dependency plugin), which is what a first run on a fresh machine pays. Start time is until the
script printed its URL line (all nodes joined, health yellow or green); RSS is VmRSS of each
node right after that.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.engines import EngineKind, start_engine


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def run_once(kind: EngineKind, nodes: int, label: str) -> dict[str, object]:
    """Start ``nodes`` nodes in a fresh home, measure, stop; returns the figures."""
    home = Path(tempfile.mkdtemp(prefix=f"ihub-bench-{kind}-"))
    try:
        t0 = time.monotonic()
        engine = start_engine(kind, home, nodes=nodes)
        start_s = time.monotonic() - t0
        rss = [round(rss_mb(p)) for p in engine.node_pids()]
        t0 = time.monotonic()
        engine.stop()
        stop_s = time.monotonic() - t0
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"kind": kind, "run": label, "nodes": nodes, "start_s": round(start_s, 1),
            "stop_s": round(stop_s, 1), "rss_mb_per_node": rss}


def cold(kind: EngineKind) -> dict[str, object]:
    """One node with an empty engine cache and an empty Maven repository."""
    scratch = Path(tempfile.mkdtemp(prefix="ihub-bench-cold-"))
    saved = {k: os.environ.get(k) for k in ("IHUB_ENGINE_CACHE", "IHUB_MAVEN_ARGS")}
    os.environ["IHUB_ENGINE_CACHE"] = str(scratch / "cache")
    os.environ["IHUB_MAVEN_ARGS"] = f"-Dmaven.repo.local={scratch / 'm2'}"
    try:
        return run_once(kind, 1, "cold (empty cache and Maven repository)")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["opensearch", "elasticsearch", "both"], default="both")
    parser.add_argument("--cold", action="store_true", help="also measure a first fetch")
    args = parser.parse_args()
    kinds: list[EngineKind] = (["opensearch", "elasticsearch"] if args.kind == "both"
                               else [args.kind])
    results = []
    for kind in kinds:
        if args.cold:
            results.append(cold(kind))
        results.append(run_once(kind, 1, "warm"))
        results.append(run_once(kind, 3, "warm"))
    print(f"{'engine':<14} {'run':<42} {'nodes':>5} {'start s':>8} {'stop s':>7}  RSS MB/node")
    for r in results:
        print(f"{r['kind']:<14} {r['run']:<42} {r['nodes']:>5} {r['start_s']:>8} "
              f"{r['stop_s']:>7}  {r['rss_mb_per_node']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
