"""Query benchmark: the search API against hand-written DuckDB SQL and idc-index.

Starts ``ihub serve`` on a free loopback port over an already harvested IDC index, sends a
fixed mix of cohort questions (``bench/queries.py``; timed requests carry ``Cache-Control:
no-cache`` so the server computes every answer) and answers the same questions with

* an "expert floor": hand-written DuckDB SQL over a native in-memory table loaded once from
  the same parquet (disjunctive facet counts, exact counts, first 20 hits per question);
* idc-index (``IDCClient().sql_query``), counts only, a few questions (each takes seconds).

Every answer must agree: API counts and facets equal DuckDB's, idc-index counts equal
DuckDB's. Exits 1 on any disagreement (after printing it), 2 on setup errors.

    IHUB_HOME=/tmp/exp/home .venv/bin/python -m bench.bench_query --repeat 15 --out b.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import idc_index_data
import pyarrow as pa

if __package__ in (None, ""):  # run as a script: make ``bench.queries`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.queries import (
    AGE_BUCKET,
    COLL_SELECT,
    FACETS,
    MEANINGS,
    PAGE,
    QUERIES,
    RAW,
    Query,
    counts_sql,
    facet_sql,
    literal,
    where,
)
from imaging_hub.indexers import vocab
from imaging_hub.indexers.vocab.harmonise import harmonise

Counts = tuple[int, int, int, int]


class Floor:
    """The expert floor: a native DuckDB table with the derived columns, loaded once."""

    def __init__(self) -> None:
        series = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)
        colls = str(Path(series).with_name("collections_index.parquet"))
        t0 = time.perf_counter()
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        self.con.execute("CREATE TABLE coll AS " + COLL_SELECT.format(src="read_parquet($c)"),
                         {"c": colls})
        cols = ", ".join(f"{expr} AS {name}" for name, expr in RAW.items())
        self.con.execute(f"CREATE TABLE s AS SELECT *, {AGE_BUCKET} AS age_bucket FROM"
                         f" (SELECT {cols} FROM read_parquet($p))", {"p": series})
        self._add_meanings()
        self.load_s = time.perf_counter() - t0
        self.threads = self.con.execute("SELECT current_setting('threads')").fetchone()[0]  # type: ignore[index]
        self.col = {n: n for n in (*RAW, *MEANINGS)}

    def _add_meanings(self) -> None:
        """The harmonised meanings our text search also reads (body part, modality,
        procedure), derived from the same raw values with the shipped vocabulary tables, so
        the floor answers the same question: joined on the raw values, before timing."""
        inputs = ("body_part", "modality", "study_description")
        distinct = self.con.sql(f"SELECT DISTINCT {', '.join(inputs)} FROM s").to_arrow_table()
        for name in ("sex", "sex_raw", "race_raw", "ethnicity_raw"):  # other rules' inputs
            distinct = distinct.append_column(name, pa.nulls(distinct.num_rows, pa.string()))
        table = harmonise(distinct, vocab.load(None)).table.select([*inputs, *MEANINGS])
        self.con.register("meanings", table)
        on = " AND ".join(f"s.{c} IS NOT DISTINCT FROM m.{c}" for c in inputs)
        self.con.execute(f"CREATE TABLE s2 AS SELECT s.*, {', '.join(f'm.{c}' for c in MEANINGS)}"
                         f" FROM s LEFT JOIN meanings m ON {on}")
        self.con.execute("DROP TABLE s")
        self.con.execute("ALTER TABLE s2 RENAME TO s")
        self.con.unregister("meanings")

    def statements(self, q: Query) -> list[tuple[str, str, dict[str, Any]]]:
        """(kind, sql, params) of the question: facet statements, counts, first hits."""
        out: list[tuple[str, str, dict[str, Any]]] = []

        def cond(skip: str | None = None) -> tuple[str, dict[str, Any]]:
            params: dict[str, Any] = {}

            def bind(v: Any) -> str:
                params[f"p{len(params)}"] = v
                return f"$p{len(params) - 1}"
            return where(q, self.col, "coll", bind, skip), params

        own = [f for f in FACETS if f in q["filters"]]
        contexts: list[tuple[str | None, list[str]]] = [
            (None, [f for f in FACETS if f not in own])] + [(f, [f]) for f in own]
        for skip, names in contexts:
            if names:
                c, params = cond(skip)
                out.append(("facets", facet_sql(names, c), params))
        c, params = cond()
        out.append(("counts", counts_sql("s", self.col, c), params))
        out.append(("hits", f"SELECT series_uid, * FROM s WHERE {c}"
                    f" ORDER BY collection, study_uid, series_uid LIMIT {PAGE}", params))
        return out

    def run(self, stmts: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
        facets: dict[str, dict[str, int]] = {f: {} for f in FACETS}
        out: dict[str, Any] = {"facets": facets}
        for kind, sql, params in stmts:
            rows = self.con.execute(sql, params or None).fetchall()
            if kind == "facets":
                for f, v, n in rows:
                    facets[f][str(v)] = int(n)
            elif kind == "counts":
                out["counts"] = tuple(int(x) for x in rows[0])
            else:
                out["hits"] = [r[0] for r in rows]
        return out


def api_body(q: Query) -> dict[str, Any]:
    return {"text": q["text"], "filters": q["filters"], "facets": FACETS,
            "page": {"size": PAGE}, "counts": True}


def api_answer(resp: dict[str, Any]) -> dict[str, Any]:
    c = resp["counts"]
    return {
        "counts": tuple(c[k]["count"] for k in ("subjects", "studies", "series", "instances")),
        "total": resp["total"]["count"],
        # "not recorded" buckets (value null) have no counterpart in the floor's SQL
        "facets": {f: {str(b["value"]): b["count"] for b in resp["facets"].get(f, [])
                       if b["count"] and b["value"] is not None} for f in FACETS},
        "hits": [h["identifiers"]["series_uid"] for h in resp["hits"]],
        "timed_out": resp.get("facets_timed_out", []),
    }


def compare(q: Query, api: dict[str, Any], floor: dict[str, Any]) -> list[str]:
    """Every disagreement between the API's answer and the floor's, one line each."""
    out = []
    if api["counts"] != floor["counts"] or api["total"] != floor["counts"][2]:
        out.append(f"counts (subjects, studies, series, instances): API {api['counts']}"
                   f" total {api['total']} vs DuckDB {floor['counts']}")
    for f in FACETS:
        a, d = api["facets"][f], floor["facets"][f]
        if a != d:
            diff = {v: (a.get(v, 0), d.get(v, 0)) for v in sorted(set(a) | set(d))
                    if a.get(v, 0) != d.get(v, 0)}
            out.append(f"facet {f} (value: API, DuckDB): {diff}")
    if api["hits"] != floor["hits"]:
        out.append(f"first hits: API {api['hits'][:3]}... vs DuckDB {floor['hits'][:3]}...")
    if api["timed_out"]:
        out.append(f"facets timed out: {api['timed_out']}")
    return [f"[{q['name']}] {m}" for m in out]


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(p) - 1] if len(xs) > 1 \
        else xs[0]


def ms(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(xs) * 1e3, 2),
            "p95_ms": round(pct(xs, 95) * 1e3, 2), "n": len(xs)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_mem(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def start_server(home: str, log: Any = subprocess.DEVNULL, args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None, own_session: bool = False,
                 ) -> tuple[subprocess.Popen[bytes], str]:
    """``ihub serve`` over ``home`` (plus ``args``, ``env``; ``own_session`` to stop its
    workers with the process group), once ``/api/v1/health`` answers 200."""
    ihub = Path(sys.executable).parent / "ihub"
    port = free_port()
    proc = subprocess.Popen([str(ihub), "serve", "--port", str(port), *args], stdout=log,
                            stderr=log, env={**os.environ, **(env or {}), "IHUB_HOME": home},
                            start_new_session=own_session)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ihub serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=60).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("ihub serve did not answer /api/v1/health within 180 s")


def idc_index_run(queries: list[Query], floor: dict[str, Counts]) -> tuple[dict[str, Any],
                                                                          list[str]]:
    from idc_index import IDCClient

    t0 = time.perf_counter()
    client = IDCClient()
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    client.fetch_index("collections_index")  # bundled with idc-index-data: read from disk
    fetch = time.perf_counter() - t0
    coll = f"({COLL_SELECT.format(src='collections_index')})"
    per: dict[str, float] = {}
    bad: list[str] = []
    for q in queries:
        sql = counts_sql("index", RAW, where(q, RAW, coll, literal))
        t0 = time.perf_counter()
        row = client.sql_query(sql).iloc[0].tolist()
        per[q["name"]] = time.perf_counter() - t0
        got = tuple(int(x) for x in row)
        if got != floor[q["name"]]:
            bad.append(f"[{q['name']}] idc-index counts {got} vs DuckDB {floor[q['name']]}")
    return {"cold_start_s": round(cold, 2), "fetch_collections_index_s": round(fetch, 2),
            "per_query_ms": {k: round(v * 1e3, 1) for k, v in per.items()}}, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", default=os.environ.get("IHUB_HOME"),
                    help="IHUB_HOME with a harvested full IDC index (default: $IHUB_HOME)")
    ap.add_argument("--repeat", type=int, default=15, help="timed passes over the mix")
    ap.add_argument("--idc-index-queries", type=int, default=3,
                    help="questions timed with idc-index (0 to skip; ~10 s each)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if not args.home:
        ap.error("--home or IHUB_HOME is required")
    print(f"{len(QUERIES)} queries, {args.repeat} timed passes; loading the DuckDB floor ...")
    floor = Floor()
    stmts = {q["name"]: floor.statements(q) for q in QUERIES}
    mismatches: list[str] = []
    api_t: dict[str, list[float]] = {q["name"]: [] for q in QUERIES}
    floor_t: dict[str, list[float]] = {q["name"]: [] for q in QUERIES}
    floor_ans: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryFile() as log:
        proc, url = start_server(args.home, log)
        try:
            mem_start = proc_mem(proc.pid)
            with httpx.Client(base_url=url, timeout=120) as client:
                for q in QUERIES:  # warm-up pass, also the agreement check
                    r = client.post("/api/v1/search", json=api_body(q))
                    if r.status_code != 200:
                        raise RuntimeError(f"[{q['name']}] HTTP {r.status_code}: {r.text}")
                    floor_ans[q["name"]] = floor.run(stmts[q["name"]])
                    mismatches += compare(q, api_answer(r.json()), floor_ans[q["name"]])
                for _ in range(args.repeat):
                    for q in QUERIES:
                        t0 = time.perf_counter()
                        # a fresh answer each time: the engine's work, not the answer cache
                        r = client.post("/api/v1/search", json=api_body(q),
                                        headers={"cache-control": "no-cache"})
                        r.json()
                        api_t[q["name"]].append(time.perf_counter() - t0)
                        if r.status_code != 200:
                            raise RuntimeError(f"[{q['name']}] HTTP {r.status_code}")
                        t0 = time.perf_counter()
                        floor.run(stmts[q["name"]])
                        floor_t[q["name"]].append(time.perf_counter() - t0)
            mem = proc_mem(proc.pid)
        except Exception:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    idc: dict[str, Any] = {}
    if args.idc_index_queries > 0:
        print(f"idc-index: {args.idc_index_queries} queries ...")
        idc, bad = idc_index_run(QUERIES[:args.idc_index_queries],
                                 {n: a["counts"] for n, a in floor_ans.items()})
        mismatches += bad
    report(args, api_t, floor_t, floor, floor_ans, idc, mem_start, mem, mismatches)
    if mismatches:
        print(f"\n{len(mismatches)} DISAGREEMENT(S):")
        for m in mismatches:
            print("  " + m)
        for q in QUERIES:
            if any(m.startswith(f"[{q['name']}]") for m in mismatches):
                print(f"  query {q['name']}: {json.dumps(api_body(q))}")
        return 1
    print("\nall answers agree (API = DuckDB for counts, totals, 10 facets, first hits;"
          " idc-index = DuckDB for counts)")
    return 0


def report(args: argparse.Namespace, api_t: dict[str, list[float]],
           floor_t: dict[str, list[float]], floor: Floor, floor_ans: dict[str, dict[str, Any]],
           idc: dict[str, Any], mem_start: dict[str, float], mem: dict[str, float],
           mismatches: list[str]) -> None:
    api_all = [x for xs in api_t.values() for x in xs]
    floor_all = [x for xs in floor_t.values() for x in xs]
    api, fl = ms(api_all), ms(floor_all)
    print(f"\n{'query':28} {'series':>9} {'API p50':>9} {'DuckDB p50':>11} {'idc-index':>10}")
    for name in api_t:
        idc_q = idc.get("per_query_ms", {}).get(name)
        print(f"{name:28} {floor_ans[name]['counts'][2]:>9} "
              f"{statistics.median(api_t[name]) * 1e3:>9.1f} "
              f"{statistics.median(floor_t[name]) * 1e3:>11.1f} "
              f"{'' if idc_q is None else f'{idc_q:.0f}':>10}")
    ratios: dict[str, float] = {"duckdb_p50_over_api_p50": round(fl["p50_ms"] / api["p50_ms"], 3)}
    print(f"\n{'engine':34} {'p50 ms':>9} {'p95 ms':>9} {'timed':>6}")
    print(f"{'API over HTTP (ours)':34} {api['p50_ms']:>9.1f} {api['p95_ms']:>9.1f} {api['n']:>6}")
    print(f"{'DuckDB floor (3 statements)':34} {fl['p50_ms']:>9.1f} {fl['p95_ms']:>9.1f}"
          f" {fl['n']:>6}")
    if idc:
        per = list(idc["per_query_ms"].values())
        idc["median_ms"] = round(statistics.median(per), 1)
        print(f"{'idc-index sql_query (counts only)':34} {idc['median_ms']:>9.1f} {'':>9}"
              f" {len(per):>6}")
        ratios["idc_index_median_over_api_p50"] = round(idc["median_ms"] / api["p50_ms"], 1)
        same = [v / (statistics.median(api_t[n]) * 1e3) for n, v in idc["per_query_ms"].items()]
        ratios["idc_index_over_api_same_queries_median"] = round(statistics.median(same), 1)
        print(f"idc-index cold start: IDCClient() {idc['cold_start_s']} s,"
              f" + fetch_index('collections_index') {idc['fetch_collections_index_s']} s")
    print(f"DuckDB floor: load {floor.load_s:.1f} s, threads {floor.threads}")
    print(f"server memory: RSS {mem.get('VmRSS')} MB after the run (peak {mem.get('VmHWM')} MB;"
          f" {mem_start.get('VmRSS')} MB after start-up)")
    print(f"\npeer vs ours, same run: DuckDB floor p50 {fl['p50_ms']:.1f} ms / API p50"
          f" {api['p50_ms']:.1f} ms = {ratios['duckdb_p50_over_api_p50']}")
    if idc:
        print(f"peer vs ours, same run: idc-index median {idc['median_ms']:.0f} ms / API p50"
              f" {api['p50_ms']:.1f} ms = {ratios['idc_index_median_over_api_p50']}"
              f" (same queries: x{ratios['idc_index_over_api_same_queries_median']})")
    if args.out:
        result = {
            "queries": len(api_t), "repeat": args.repeat, "cpus": os.cpu_count(),
            "api": {**api, "per_query_p50_ms": {n: round(statistics.median(v) * 1e3, 2)
                                                for n, v in api_t.items()}},
            "duckdb_floor": {**fl, "load_s": round(floor.load_s, 2), "threads": floor.threads,
                             "per_query_p50_ms": {n: round(statistics.median(v) * 1e3, 2)
                                                  for n, v in floor_t.items()}},
            "idc_index": idc, "ratios": ratios,
            "server_memory_mb": {"after_run": mem, "after_start": mem_start},
            "series_per_query": {n: a["counts"][2] for n, a in floor_ans.items()},
            "idc_index_data": idc_index_data.__version__, "duckdb": duckdb.__version__,
            "mismatches": mismatches,
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, duckdb.Error) as exc:
        print(f"bench setup failed: {exc}", file=sys.stderr)
        sys.exit(2)
