"""``ihub harvest`` of a real Orthanc over QIDO-RS, checked against Orthanc's own REST API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom.data import get_testdata_files
from pydicom.uid import ExplicitVRLittleEndian

from tests.conftest import VENV_BIN
from tests.dicom_files import mr_image, write
from tests.orthanc import Orthanc, start_orthanc
from tests.qido_server import Behaviour, qido_server

pytestmark = pytest.mark.slow

# One series sent under two PatientIDs (files written here): Orthanc keeps two resources
# with the same Study/Series UIDs; 2 + 1 distinct instances.
CONFLICT_STUDY, CONFLICT_SERIES = "2.25.7001", "2.25.7001.1"


def conflict_files(folder: Path) -> list[Path]:
    made = [(f"2.25.7001.1.{i}", patient) for i, patient in
            enumerate(("CONFLICT-A", "CONFLICT-A", "CONFLICT-B"), start=1)]
    return [write(mr_image(sop, ExplicitVRLittleEndian, CONFLICT_STUDY, CONFLICT_SERIES,
                           patient=patient), folder / f"{sop}.dcm") for sop, patient in made]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    files = [Path(f) for f in get_testdata_files() if Path(f).is_file()]
    accepted, _refused = server.upload(files)
    assert accepted > 50
    assert server.upload(conflict_files(tmp_path_factory.mktemp("conflict"))) == (3, 0)
    try:
        yield server
    finally:
        server.stop()


def ihub(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          env={**os.environ, "IHUB_HOME": str(home)}, timeout=timeout,
                          check=False)


def configure(home: Path, url: str, **extra: Any) -> None:
    lines = ["[sources.pacs]", 'type = "dicomweb"', f'url = "{url}"', "page_size = 5",
             'viewer_url = "http://viewer.example/?StudyInstanceUIDs={study_uid}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
    home.mkdir(parents=True, exist_ok=True)
    (home / "sources.toml").write_text("\n".join(lines) + "\n")


def oracle(o: Orthanc) -> dict[str, Any]:
    """Counts from Orthanc's REST API (not QIDO), by DICOM identity: a SeriesInstanceUID is
    one series however many Orthanc resources hold it, its instances the distinct
    SOPInstanceUIDs of all of them; a study's subject is its smallest trimmed PatientID
    (empty: one subject per study), the rule README documents."""
    series: dict[str, dict[str, Any]] = {}
    pids: dict[str, set[str]] = {}
    resources, study_resources = 0, set()
    for sid in o.get("/series"):  # type: ignore[union-attr]
        s = o.get(f"/series/{sid}")
        st = o.get(f"/studies/{s['ParentStudy']}")  # type: ignore[index]
        resources += 1
        study_resources.add(s["ParentStudy"])  # type: ignore[index]
        uid = s["MainDicomTags"]["SeriesInstanceUID"]  # type: ignore[index]
        listed = o.get(f"/series/{sid}/instances")
        sops = {i["MainDicomTags"]["SOPInstanceUID"] for i in listed}  # type: ignore[attr-defined, index]
        entry = series.setdefault(uid, {"sops": set(), "modality": (
            s["MainDicomTags"].get("Modality") or "").strip().upper()})  # type: ignore[index]
        entry["sops"] |= sops
        study = st["MainDicomTags"]["StudyInstanceUID"]  # type: ignore[index]
        pids.setdefault(study, set()).add(
            (st["PatientMainDicomTags"].get("PatientID") or "").strip())  # type: ignore[index]
    subjects = {min(p - {""}) if p - {""} else f"(no PatientID) {study}"
                for study, p in pids.items()}
    for entry in series.values():
        entry["instances"] = len(entry.pop("sops"))
    return {"series": series, "studies": len(pids), "subjects": len(subjects),
            "resources": resources, "study_resources": len(study_resources)}


def test_harvest_counts_equal_orthanc(orthanc: Orthanc, tmp_path: Path) -> None:
    home = tmp_path / "home"
    configure(home, orthanc.dicomweb)
    done = ihub(home, "harvest", "pacs")
    assert done.returncode == 0, done.stderr
    want = oracle(orthanc)
    stats = orthanc.get("/statistics")
    # the oracle reads the same data as /statistics (which counts Orthanc resources: one
    # study held under two PatientID spellings is two resources there, one study here)
    assert stats["CountSeries"] == want["resources"]  # type: ignore[index]
    assert stats["CountStudies"] == want["study_resources"]  # type: ignore[index]
    got = json.loads(ihub(home, "count", "--json").stdout)
    assert got["series"]["count"] == len(want["series"])
    assert got["studies"]["count"] == want["studies"]
    assert got["subjects"]["count"] == want["subjects"]
    assert got["instances"]["count"] == sum(s["instances"] for s in want["series"].values())
    # QIDO-RS gives no sizes: bytes is then a lower bound, said so
    assert got["bytes"] == {"count": 0, "exact": False, "missing": len(want["series"])}
    hits = json.loads(ihub(home, "search", "--size", "1000", "--json").stdout)["hits"]
    assert {h["identifiers"]["series_uid"]: h["instances"] for h in hits} == {
        uid: s["instances"] for uid, s in want["series"].items()}
    assert all(h["modality"] == (want["series"][h["identifiers"]["series_uid"]]["modality"]
                                 or None) for h in hits)


def test_uid_conflicts_are_reported_and_instances_counted_once(orthanc: Orthanc,
                                                                tmp_path: Path) -> None:
    home = tmp_path / "home"
    configure(home, orthanc.dicomweb)
    done = ihub(home, "harvest", "pacs", "--json")
    assert done.returncode == 0, done.stderr
    (report,) = json.loads(done.stdout)
    assert report["warnings"]["series_uid_conflict"] >= 1
    assert report["warnings"]["study_uid_conflict"] >= 1
    conflicts = {w["key"]: w["detail"] for w in report["warning_samples"]}
    assert "listed 2 times" in conflicts[CONFLICT_SERIES]
    assert "'CONFLICT-A', 'CONFLICT-B'" in conflicts[CONFLICT_STUDY]
    hits = json.loads(ihub(home, "search", "--filter", f"series_uid={CONFLICT_SERIES}",
                           "--json").stdout)["hits"]
    (hit,) = hits
    assert hit["instances"] == 3 and hit["subject_id"] == "CONFLICT-A"


def test_wado_link_resolves_on_the_server(orthanc: Orthanc, tmp_path: Path) -> None:
    home = tmp_path / "home"
    configure(home, orthanc.dicomweb)
    assert ihub(home, "harvest", "pacs").returncode == 0
    hit = json.loads(ihub(home, "search", "--size", "1", "--json").stdout)["hits"][0]
    links = {link["rel"]: link["href"] for link in hit["links"]}
    ids = hit["identifiers"]
    assert links["viewer"] == f"http://viewer.example/?StudyInstanceUIDs={ids['study_uid']}"
    wado = links["wado-rs"]
    assert wado == f"{orthanc.dicomweb}/studies/{ids['study_uid']}/series/{ids['series_uid']}"
    meta = httpx.get(f"{wado}/metadata", timeout=30)
    assert meta.status_code == 200 and len(meta.json()) == hit["instances"]


def test_incremental_window_reconciles_a_deleted_study(orthanc: Orthanc,
                                                       tmp_path: Path) -> None:
    home = tmp_path / "home"
    configure(home, orthanc.dicomweb)
    assert ihub(home, "harvest", "pacs").returncode == 0
    before = json.loads(ihub(home, "count", "--json").stdout)
    # a dated study with one series, to delete on the server
    studies = [orthanc.get(f"/studies/{s}") for s in orthanc.get("/studies")]  # type: ignore[union-attr]
    victim = next(s for s in studies if s["MainDicomTags"].get("StudyDate")  # type: ignore[index]
                  and len(s["Series"]) == 1)  # type: ignore[index]
    day = victim["MainDicomTags"]["StudyDate"]  # type: ignore[index]
    series_that_day = sum(len(s["Series"]) for s in studies  # type: ignore[index]
                          if s["MainDicomTags"].get("StudyDate") == day)  # type: ignore[index]
    httpx.delete(f"{orthanc.url}/studies/{victim['ID']}", timeout=30).raise_for_status()  # type: ignore[index]
    iso = f"{day[:4]}-{day[4:6]}-{day[6:8]}"
    held = ihub(home, "harvest", "pacs", "--since", iso, "--until", iso)
    if 100 / series_that_day > 10:  # losing 1 of that day's series is over max_drop_pct
        assert held.returncode == 1 and "held, not published" in held.stderr
        assert json.loads(ihub(home, "count", "--json").stdout) == before
        done = ihub(home, "approve", "pacs")
    else:
        done = held
    assert done.returncode == 0, done.stderr
    run = json.loads(ihub(home, "sources", "--json").stdout)[0]["last_run"]
    assert run["deleted"] == 1 and run["added"] == 0
    assert run["scope"] == f"{day}-{day}"
    assert run["unchanged"] + run["updated"] == series_that_day - 1
    after = json.loads(ihub(home, "count", "--json").stdout)
    assert after["series"]["count"] == before["series"]["count"] - 1
    full = ihub(home, "harvest", "pacs", "--full")
    assert full.returncode == 0
    run = json.loads(ihub(home, "sources", "--json").stdout)[0]["last_run"]
    assert (run["added"], run["deleted"], run["updated"]) == (0, 0, 0)
    assert json.loads(ihub(home, "count", "--json").stdout)["series"] == after["series"]


def test_killed_harvest_leaves_the_published_source_and_reruns_clean(
    orthanc: Orthanc, tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    configure(home, orthanc.dicomweb)
    assert ihub(home, "harvest", "pacs").returncode == 0
    before = json.loads(ihub(home, "count", "--json").stdout)
    # the same source name pointed at a slow server: kill the harvest half-way
    slow = Behaviour(delay=0.5)
    slow.studies = [{"0020000D": {"vr": "UI", "Value": [f"9.{i}"]}} for i in range(50)]
    with qido_server(slow) as url:
        configure(home, url)
        proc = subprocess.Popen([str(VENV_BIN / "ihub"), "harvest", "pacs"],
                                env={**os.environ, "IHUB_HOME": str(home)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(slow.requests) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert len(slow.requests) >= 3  # it was mid-harvest
    assert json.loads(ihub(home, "count", "--json").stdout) == before
    killed = json.loads(ihub(home, "sources", "--json").stdout)[0]["last_run"]
    assert killed["status"] == "abandoned"  # not "running" forever
    configure(home, orthanc.dicomweb)
    assert ihub(home, "harvest", "pacs").returncode == 0
    again = json.loads(ihub(home, "count", "--json").stdout)
    assert {k: again[k] for k in ("subjects", "studies", "series", "instances")} == {
        k: before[k] for k in ("subjects", "studies", "series", "instances")}
    run = json.loads(ihub(home, "sources", "--json").stdout)[0]["last_run"]
    assert run["status"] == "published" and run["added"] == 0 and run["deleted"] == 0
