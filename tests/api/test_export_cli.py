"""``ihub export`` and ``ihub cohort save|show|export`` as a user runs them (the installed
console script, in a subprocess)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.api import export_data as data
from tests.conftest import VENV_BIN


def _ihub(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          env={**os.environ, "IHUB_HOME": str(home)}, timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli-home")
    data.publish_home(path)
    return path


def test_export_writes_the_manifest_to_stdout_and_the_citations_beside(
        home: Path, tmp_path: Path) -> None:
    cite = tmp_path / "CITATION.md"
    done = _ihub(home, "export", "--format", "csv", "-f", "modality=CT", "--citations",
                 str(cite))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout, newline="")))
    want = {str(r.identifiers.series_uid) for recs in data.records().values() for r in recs
            if r.modality == "CT" and r.access.tier != "sequestered"}
    assert {r["series_uid"] for r in rows} == want
    assert f"exported {len(want)} entries of {len(want)} matching series" in \
        " ".join(done.stderr.split())
    assert data.CITATIONS[("idc", "lungs")][0] in cite.read_text()
    bad = _ihub(home, "export", "--format", "xls")
    assert bad.returncode == 2 and "format" in bad.stderr and not bad.stdout


def test_cohort_save_show_and_export(home: Path) -> None:
    saved = _ihub(home, "cohort", "save", "tcia CT", "-f", "source=tcia")
    assert saved.returncode == 0, saved.stderr
    cohort_id = saved.stdout.strip()
    shown = _ihub(home, "cohort", "show", cohort_id, "--json")
    info = json.loads(shown.stdout)
    assert info["members"] == len(data.records()["tcia"]) and info["changes"] is None
    assert info["query"] == {"filters": {"source": ["tcia"]}}
    manifest = _ihub(home, "cohort", "export", cohort_id, "--format", "tcia")
    assert manifest.stdout.splitlines()[6:] == sorted(
        str(r.identifiers.series_uid) for r in data.records()["tcia"])
    assert _ihub(home, "cohort", "show", "cunknown").returncode == 2
