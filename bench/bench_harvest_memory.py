"""Benchmark: memory of the harvest side (indexer -> harmonise -> stage), phase by phase.

Each harvest runs in its own interpreter (so one run's peak cannot hide another's) into a
fresh home, with a thread sampling every 50 ms the process's resident set (RSS) and its
anonymous part (``RssAnon`` of ``/proc/self/status``: heap and DuckDB buffers; memory-mapped
file pages are counted in RSS but the kernel can reclaim them). Phases are the progress
messages of the harvest; ``staged`` is after ``harvest_and_stage`` returned.

    .venv/bin/python bench/bench_harvest_memory.py            # the installed IDC index
    .venv/bin/python bench/bench_harvest_memory.py --synthetic 1000000,4000000

``--synthetic`` writes IDC-layout Parquet files of N series (the installed index's rows
repeated with fresh UIDs, so the value domains stay those of IDC), harvests each as an
``idc`` source and prints the peak anonymous RSS side by side, as a ratio to the smallest N:
a harvest whose memory does not grow with the number of series shows a ratio near 1.
``--tabular`` does the same for a metadata export (``type = "tabular"``): a CSV of N rows,
the shipped example's rows repeated with fresh ids, read through its mapping.

    .venv/bin/python bench/bench_harvest_memory.py --tabular 100000,400000

``--folder`` does the same for a folder of DICOM files (``type = "dicom_folder"``): N small
files made from pydicom's bundled ones under fresh UIDs, four instances per series.

    .venv/bin/python bench/bench_harvest_memory.py --folder 50000,200000

``--dicomweb`` does the same for a DICOMweb server (``type = "dicomweb"``) listing N series,
four per study, over QIDO-RS: a server in this (the parent) process makes each page's entries
when asked, in the DICOM JSON shape of the connector's test server (``tests/qido_server.py``).

    .venv/bin/python bench/bench_harvest_memory.py --dicomweb 20000,80000

``--gen3`` does the same for a Gen3 commons (``type = "gen3"``, the ``midrc`` model) whose
Guppy index holds N DICOM series files: the connector's test commons (``tests/gen3_server.py``)
in this process, public (no key), so past Guppy's 10,000-row window the harvest reads the
whole index through ``/guppy/download`` as one JSON array.

    .venv/bin/python bench/bench_harvest_memory.py --gen3 20000,80000

``--tcia`` does the same for TCIA (``type = "tcia"``, as the guest user, no citations): the
connector's test NBIA server (``tests/tcia_server.py``) in this process, N series in
collections of 2,000 (NBIA answers each collection's series in one piece).

    .venv/bin/python bench/bench_harvest_memory.py --tcia 20000,80000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.synthetic_sources import (
    EXAMPLE,
    synthetic_csv,
    synthetic_dicomweb,
    synthetic_folder,
    synthetic_gen3,
    synthetic_parquet,
    synthetic_tcia,
)

MB = 1e6
SAMPLE_S = 0.05


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@dataclass
class Sampler:
    """Peak RSS and RssAnon per phase, sampled by a daemon thread, and each phase's time."""

    phase: str = "start"
    rss: dict[str, int] = field(default_factory=dict)
    anon: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    since: float = field(default_factory=time.perf_counter)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.sample()
            time.sleep(SAMPLE_S)

    def sample(self) -> None:
        p = self.phase
        self.rss[p] = max(self.rss.get(p, 0), _status_kb("VmRSS") * 1024)
        self.anon[p] = max(self.anon.get(p, 0), _status_kb("RssAnon") * 1024)

    def progress(self, stage: str, done: int, total: int) -> None:
        if stage != self.phase:
            self.sample()
            now = time.perf_counter()
            self.seconds[self.phase] = now - self.since
            self.phase, self.since = stage, now
            self.sample()




def harvest_once(series_parquet: str | None, tabular_csv: str | None = None,
                 folder: str | None = None, dicomweb: str | None = None,
                 gen3: str | None = None, tcia: str | None = None) -> dict[str, object]:
    """One harvest + stage into a fresh home, in this process: peaks per phase, wall time."""
    from imaging_hub.config import Settings
    from imaging_hub.harvest import harvest_and_stage
    from imaging_hub.indexers.dicom_folder import DicomFolderSource
    from imaging_hub.indexers.dicomweb import DicomwebSource
    from imaging_hub.indexers.gen3 import Gen3Source
    from imaging_hub.indexers.idc import IdcSource
    from imaging_hub.indexers.tabular import TabularSource
    from imaging_hub.indexers.tcia import TciaSource

    sampler = Sampler()
    sampler.start()
    config: (IdcSource | TabularSource | DicomFolderSource | DicomwebSource | Gen3Source
             | TciaSource) = IdcSource()
    name = "idc"
    if tcia:
        name = "tcia"
        config = TciaSource(type="tcia", url=f"{tcia}/nbia-api/services/v4", citations=False)
    elif gen3:
        name = "midrc"
        config = Gen3Source(type="gen3", url=gen3, model="midrc")
    elif dicomweb:
        name = "pacs"
        config = DicomwebSource(type="dicomweb", url=dicomweb)
    elif folder:
        name = "folder"
        config = DicomFolderSource(type="dicom_folder", path=Path(folder))
    elif tabular_csv:
        name = "decedent_ct"
        config = TabularSource(type="tabular", path=Path(tabular_csv),
                               mapping=EXAMPLE / "mapping.toml")
    elif series_parquet:  # a synthetic index beside the installed collections
        import idc_index_data

        installed = Path(str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH))
        config = IdcSource(series_parquet=Path(series_parquet),
                           collections_parquet=installed.with_name("collections_index.parquet"))
    with tempfile.TemporaryDirectory() as home:
        t0 = time.perf_counter()
        result = harvest_and_stage(Settings(home=Path(home)), name, config,
                                   progress=sampler.progress)
        seconds = time.perf_counter() - t0
        sampler.progress("staged", 0, 0)
        series = result.series.num_rows
        del result
        time.sleep(2 * SAMPLE_S)
        sampler.sample()
    return {"series": series, "seconds": seconds, "rss": sampler.rss, "anon": sampler.anon,
            "phase_seconds": sampler.seconds}


def run_child(series_parquet: str | None, tabular_csv: str | None = None,
              folder: str | None = None, dicomweb: str | None = None,
              gen3: str | None = None, tcia: str | None = None) -> dict[str, object]:
    """``harvest_once`` in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child"] + (
        ["--series-parquet", series_parquet] if series_parquet else []) + (
        ["--tabular-csv", tabular_csv] if tabular_csv else []) + (
        ["--folder-path", folder] if folder else []) + (
        ["--dicomweb-url", dicomweb] if dicomweb else []) + (
        ["--gen3-url", gen3] if gen3 else []) + (
        ["--tcia-url", tcia] if tcia else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if out.returncode:
        sys.exit(f"harvest failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def print_phases(label: str, run: dict[str, object]) -> None:
    rss, anon, took = run["rss"], run["anon"], run["phase_seconds"]
    assert isinstance(rss, dict) and isinstance(anon, dict) and isinstance(took, dict)
    print(f"\n{label}: {run['series']:,} series, harvest_and_stage {run['seconds']:.1f} s")
    print(f"{'peak RSS MB':>12} {'peak anon MB':>13} {'seconds':>8}  phase")
    for phase in rss:
        print(f"{rss[phase] / MB:12.0f} {anon[phase] / MB:13.0f} "
              f"{took.get(phase, 0.0):8.1f}  {phase}")
    print(f"{max(rss.values()) / MB:12.0f} {max(anon.values()) / MB:13.0f} "
          f"{run['seconds']:8.1f}  (whole harvest)")


def _peak_anon(run: dict[str, object]) -> int:
    anon = run["anon"]
    assert isinstance(anon, dict)
    return max(anon.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", help="comma-separated series counts, e.g. 1000000,4000000")
    parser.add_argument("--tabular", help="comma-separated row counts of a CSV export")
    parser.add_argument("--folder", help="comma-separated file counts of a DICOM folder")
    parser.add_argument("--dicomweb", help="comma-separated series counts of a DICOMweb server")
    parser.add_argument("--gen3", help="comma-separated series counts of a Gen3 commons")
    parser.add_argument("--tcia", help="comma-separated series counts of a TCIA server")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--series-parquet", help=argparse.SUPPRESS)
    parser.add_argument("--tabular-csv", help=argparse.SUPPRESS)
    parser.add_argument("--folder-path", help=argparse.SUPPRESS)
    parser.add_argument("--dicomweb-url", help=argparse.SUPPRESS)
    parser.add_argument("--gen3-url", help=argparse.SUPPRESS)
    parser.add_argument("--tcia-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(harvest_once(args.series_parquet, args.tabular_csv,
                                      args.folder_path, args.dicomweb_url, args.gen3_url,
                                      args.tcia_url)))
        return
    chosen = (args.synthetic or args.tabular or args.folder or args.dicomweb or args.gen3
              or args.tcia)
    if not chosen:
        print_phases("IDC (installed idc-index-data)", run_child(None))
        return
    sizes = [int(s) for s in chosen.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        runs = []
        for n in sizes:
            if args.tcia:
                with synthetic_tcia(n) as url:
                    runs.append(run_child(None, tcia=url))
            elif args.gen3:
                with synthetic_gen3(n) as url:
                    runs.append(run_child(None, gen3=url))
            elif args.dicomweb:
                with synthetic_dicomweb(n) as url:
                    runs.append(run_child(None, dicomweb=url))
            elif args.folder:
                runs.append(run_child(None, folder=str(synthetic_folder(n, Path(scratch)))))
            elif args.tabular:
                runs.append(run_child(None, str(synthetic_csv(n, Path(scratch)))))
            else:
                runs.append(run_child(str(synthetic_parquet(n, Path(scratch)))))
            print_phases(f"synthetic N={n:,}", runs[-1])
    base = _peak_anon(runs[0])
    print(f"\n{'series':>12} {'peak anon MB':>13} {'ratio':>6} {'seconds':>8}")
    for run in runs:
        peak = _peak_anon(run)
        print(f"{run['series']:12,} {peak / MB:13.0f} {peak / base:6.2f} "
              f"{run['seconds']:8.1f}")


if __name__ == "__main__":
    main()
