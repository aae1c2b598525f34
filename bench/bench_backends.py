"""The three index store backends side by side on the full IDC index, one run:

* **ingest**: ``ihub harvest`` of all of IDC into one local OpenSearch node and one local
  Elasticsearch node (started by ``scripts/<kind>.sh``), beside the embedded store: wall
  time, series per second, peak RSS of the harvest process tree, bytes per series on disk,
  and the CPU time the harvest and the engine's node used: their sum over the machine's
  cores is the shortest wall time that work could take, however well it overlapped.
  Each engine runs only during its own backend's phase (ingest, queries, throughput);
* **queries**: the benchmark's question mix (``bench/queries.py``) over HTTP on each backend,
  every answer computed (``Cache-Control: no-cache``): p50/p95, and every answer (counts,
  totals, 10 facets, first 20 hits) asserted identical across the backends. The first pass
  meets a cold engine (right after the publish, its caches emptied); the measured passes,
  after ``--warm-passes`` unmeasured ones, a warm one. A search engine's shard request
  cache (which stores whole answers of size-0 searches) is switched off after the first
  pass, so the repeated passes compute every answer too; the engine's filter cache, like
  the embedded store's arrays in memory, stays;
* **throughput**: requests per second from 1, 8 and 32 concurrent connections of ``wrk`` on a
  mixed search workload (the mix, varied page sizes and browse levels), with ``ihub serve
  --workers 2``, with the answer cache (repeated questions) and without it (every answer
  computed, the engine's request cache still off).

    .venv/bin/python bench/bench_backends.py --work /tmp/bench --out bench-backends.json

Exits 1 when the backends disagree on any answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.bench_query import api_answer, api_body, ms, start_server
from bench.queries import QUERIES

ROOT = Path(__file__).resolve().parent.parent
IHUB = Path(sys.executable).parent / "ihub"
SERIES = 1_044_191


def engine_env(kind: str, url: str) -> dict[str, str]:
    return {"IHUB_STORE": kind, f"{kind.upper()}_URL": url}


def start_engine(kind: str, work: Path, port: int, heap: str) -> str:
    env = {**os.environ, "IHUB_HOME": str(work / kind), "IHUB_ENGINE_HEAP": heap}
    done = subprocess.run(["bash", str(ROOT / "scripts" / f"{kind}.sh"), "start", "--port",
                           str(port)], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1].split("=", 1)[1]


def engine_version(url: str) -> dict[str, str]:
    """The engine's release and the Java its node runs on."""
    node = next(iter(httpx.get(f"{url}/_nodes/jvm").json()["nodes"].values()))
    # (not GET /: Elasticsearch's integ-test zip has no rest-root module)
    return {"version": node["version"], "java": f"{node['jvm']['vm_vendor']} "
                                                f"{node['jvm']['version']}"}


def stop_engine(kind: str, work: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / f"{kind}.sh"), "stop"],
                   env={**os.environ, "IHUB_HOME": str(work / kind)}, capture_output=True)


def engine_processes(kind: str, work: Path) -> list[psutil.Process]:
    """The running nodes of ``kind`` the bench started (their pid files)."""
    return [psutil.Process(int(f.read_text())) for f in (work / kind / kind).glob("node-*/pid")]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def harvest(home: Path, env: dict[str, str], engine: list[psutil.Process] | None = None,
            ) -> dict[str, Any]:
    """``ihub harvest`` (all of IDC): wall time, the peak RSS of its process tree, the CPU
    time it and the ``engine`` nodes used."""
    engine = engine or []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    engine_before = cpu_seconds(engine)
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(IHUB), "harvest"], env={**os.environ, **env,
                                                         "IHUB_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):  # a child may end between the two calls
            peak = max(peak, sum(p.memory_info().rss for p in [root, *root.children(True)]))
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"harvest failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the harvest, waited for
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    used = own + (cpu_seconds(engine) - engine_before)
    return {"wall_s": round(wall, 1), "series_per_s": round(SERIES / wall),
            "peak_rss_mb": round(peak / 1e6), "harvest_cpu_s": round(own, 1),
            "engine_cpu_s": round(used - own, 1),
            "cpu_bound_s": round(used / (os.cpu_count() or 1), 1)}


def disk_bytes(kind: str, url: str, home: Path) -> dict[str, Any]:
    if kind == "embedded":
        gen = (home / "index" / (home / "index" / "CURRENT").read_text().strip())
        size = sum(f.stat().st_size for f in gen.iterdir())
        return {"bytes": size, "bytes_per_series": round(size / SERIES)}
    # an engine caches its store sizes for up to 10 s (index.store.stats_refresh_interval),
    # and deletes the segments a merge replaced once no reader holds them: read until two
    # readings 11 s apart agree
    per: dict[str, int] = {}
    for _ in range(6):
        rows = httpx.get(f"{url}/_cat/indices/ihub-*", params={
            "format": "json", "bytes": "b", "h": "index,pri.store.size,docs.count"}).json()
        now = {r["index"].split("-")[1]: int(r["pri.store.size"]) for r in rows
               if r["index"].count("-") >= 3}
        if now == per:
            break
        per = now
        time.sleep(11)
    total = sum(per.values())
    return {"bytes": total, "bytes_per_series": round(total / SERIES), "by_index": per,
            "lucene_docs": sum(int(r["docs.count"]) for r in rows)}


def serve(home: Path, env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(str(home), args=("--workers", str(workers)), env=env, own_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def query_mix(url: str, repeat: int, engine_url: str | None, warm: int = 0,
              ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(answers per question, timings) for the mix, every answer computed by the server
    (``no-cache``). The first pass meets every question for the first time (the engine's
    caches emptied before it); then the engine's request cache is switched off, so that
    the later passes, which repeat the questions, compute every answer as well; ``warm``
    passes go unmeasured before the ``repeat`` measured ones (a search engine's JVM keeps
    getting faster over its first few hundred questions)."""
    answers: dict[str, Any] = {}
    times: list[float] = []
    first: list[float] = []
    fresh = {"cache-control": "no-cache"}
    if engine_url:
        httpx.post(f"{engine_url}/ihub-*/_cache/clear", params={"request": "true"}, timeout=60)
    with httpx.Client(base_url=url, timeout=300) as c:
        for q in QUERIES:  # the answers compared across backends
            t0 = time.perf_counter()
            r = c.post("/api/v1/search", json=api_body(q), headers=fresh)
            first.append(time.perf_counter() - t0)
            r.raise_for_status()
            answers[q["name"]] = api_answer(r.json())
        if engine_url:
            httpx.put(f"{engine_url}/ihub-*/_settings", timeout=60,
                      json={"index.requests.cache.enable": False}).raise_for_status()
        for n in range(warm + repeat):
            for q in QUERIES:
                t0 = time.perf_counter()
                c.post("/api/v1/search", json=api_body(q), headers=fresh).raise_for_status()
                if n >= warm:
                    times.append(time.perf_counter() - t0)
    return answers, {**ms(times), "first_pass": ms(first)}


def workload(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    bodies = []
    for _ in range(200):
        q = rng.choice(QUERIES)
        body = api_body(q)
        body["level"] = rng.choice(["series", "series", "study", "subject", "collection"])
        body["page"] = {"size": rng.choice([10, 20, 50])}
        body["counts"] = rng.random() < 0.7
        bodies.append(body)
    return bodies


WRK_SCRIPT = """
local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  local headers = {["content-type"] = "application/json"}
  if args_cache == "no" then headers["cache-control"] = "no-cache" end
  return wrk.format("POST", "/api/v1/search", headers, bodies[i])
end
"""


def _wrk(url: str, clients: int, seconds: float, cached: bool, work: Path) -> dict[str, Any]:
    """Requests per second from ``clients`` connections of ``wrk`` (a C load generator, so
    the client's own cost stays small), cycling through the mixed workload."""
    bodies = work / "workload.jsonl"
    bodies.write_text("\n".join(json.dumps(b) for b in workload(7)) + "\n")
    script = work / "workload.lua"
    script.write_text(WRK_SCRIPT.replace("args_cache", '"yes"' if cached else '"no"'))
    done = subprocess.run(
        ["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{int(seconds)}s",
         "--latency", "-s", str(script), url, "--", str(bodies)],
        capture_output=True, text=True, check=True)
    out: dict[str, Any] = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            out["req_per_s"] = float(parts[1])
        elif parts[:1] == ["50%"]:
            out["p50_latency"] = parts[1]
        elif parts[:1] == ["99%"]:
            out["p99_latency"] = parts[1]
        elif "Non-2xx" in line:
            out["non_2xx"] = int(parts[-1])
    return out


def throughput(url: str, seconds: float, work: Path) -> dict[str, Any]:
    """Warm up first (unmeasured): each worker process builds its lookup tables on first
    use, which a short run would otherwise measure instead of serving; before the cached
    points, every worker's answer cache is filled with the workload's questions (where each
    answer takes 100 ms to compute, 200 questions on two workers would otherwise be
    computed during the first cached point)."""
    _wrk(url, 8, max(seconds, 30), False, work)
    out: dict[str, Any] = {}
    for cached in (False, True):
        if cached:
            _wrk(url, 8, max(seconds, 60), True, work)
        for n in (1, 8, 32):
            out[f"{'cached' if cached else 'computed'}_{n}"] = _wrk(url, n, seconds, cached,
                                                                     work)
    return out


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [f"[{name}] {k}" for name in a for k in ("counts", "total", "facets", "hits")
            if a[name][k] != b[name][k]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ihub-bench-backends"))
    ap.add_argument("--repeat", type=int, default=5, help="measured passes of the mix")
    ap.add_argument("--warm-passes", type=int, default=5,
                    help="unmeasured passes between the first pass and the measured ones")
    ap.add_argument("--seconds", type=float, default=20, help="per throughput point")
    ap.add_argument("--heap", default="4g", help="engine heap (one node each)")
    ap.add_argument("--backends", default="embedded,opensearch,elasticsearch")
    ap.add_argument("--skip-ingest", action="store_true", help="reuse the work folder")
    ap.add_argument("--ingest-only", action="store_true",
                    help="harvest and measure the index on disk; no questions asked")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    backends = args.backends.split(",")
    result: dict[str, Any] = {"cpus": os.cpu_count(), "backends": {}}
    ports = {"opensearch": 19200, "elasticsearch": 19400}
    urls: dict[str, str | None] = {}
    answers: dict[str, Any] = {}
    for kind in backends:  # one backend at a time: an engine is started for its own phase
        # and stopped after it, so an idle node never shares the two cores with another run
        home = args.work / f"{kind}-home"
        entry: dict[str, Any] = {}
        try:
            urls[kind] = (start_engine(kind, args.work, ports[kind], args.heap)
                          if kind in ports else None)
            env = engine_env(kind, urls[kind] or "") if urls[kind] else {}
            if urls[kind]:
                entry["engine"] = engine_version(urls[kind] or "")
            if not args.skip_ingest:
                print(f"{kind}: harvesting all of IDC ...", flush=True)
                entry["ingest"] = harvest(home, env, engine_processes(kind, args.work))
            entry["disk"] = disk_bytes(kind, urls[kind] or "", home)
            for workers in () if args.ingest_only else (1, 2):
                proc, url = serve(home, env, workers)
                try:
                    if workers == 1:
                        answers[kind], entry["query_mix"] = query_mix(
                            url, args.repeat, urls[kind], args.warm_passes)
                        entry["server_rss_mb"] = round(sum(
                            p.memory_info().rss for p in [psutil.Process(proc.pid),
                                                          *psutil.Process(proc.pid).children(True)]
                        ) / 1e6)
                    else:
                        entry["throughput_2_workers"] = throughput(url, args.seconds,
                                                                   args.work)
                finally:
                    stop(proc)
        finally:
            if urls.get(kind):
                stop_engine(kind, args.work)
        result["backends"][kind] = entry
        print(json.dumps({kind: entry}, indent=1), flush=True)
    if args.ingest_only:
        if args.out:
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        return 0
    base = backends[0]
    bad = [f"{kind} vs {base}: {d}" for kind in backends[1:]
           for d in differences(answers[base], answers[kind])]
    result["disagreements"] = bad
    emb = result["backends"].get("embedded", {}).get("query_mix", {}).get("p50_ms")
    first_emb = result["backends"].get("embedded", {}).get("query_mix", {}).get(
        "first_pass", {}).get("p50_ms")
    for kind in backends:
        mix = result["backends"][kind]["query_mix"]
        ratio = f"  ({mix['p50_ms'] / emb:.2f}x embedded)" if emb else ""
        cold = mix["first_pass"]
        cold_ratio = f" ({cold['p50_ms'] / first_emb:.1f}x)" if first_emb else ""
        print(f"{kind:14} p50 {mix['p50_ms']:7.1f} ms  p95 {mix['p95_ms']:7.1f} ms{ratio};"
              f" first pass p50 {cold['p50_ms']:.1f} ms{cold_ratio}")
    print("answers identical across backends" if not bad else "\n".join(bad))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
