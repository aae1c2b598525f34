"""A real Orthanc (Debian packages orthanc + orthanc-dicomweb) on loopback for tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


@dataclass
class Orthanc:
    url: str
    proc: subprocess.Popen[bytes]
    workdir: Path

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, files: list[Path]) -> tuple[int, int]:
        """POST each file to /instances; returns (accepted, refused)."""
        ok = refused = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for f in files:
                r = client.post("/instances", content=f.read_bytes())
                if r.status_code == 200:
                    ok += 1
                else:
                    refused += 1
        return ok, refused

    def get(self, path: str) -> object:
        return httpx.get(f"{self.url}{path}", timeout=30).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_orthanc(workdir: Path) -> Orthanc:
    """Start the Orthanc binary with DICOMweb on free loopback ports; raise if it fails."""
    exe = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
    if not Path(exe).exists() or not PLUGIN.exists():
        raise RuntimeError("Orthanc is not installed: run scripts/setup.sh test")
    workdir.mkdir(parents=True, exist_ok=True)
    port, dicom_port = free_port(), free_port()
    config = {
        "Name": "ihub-test", "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"), "HttpPort": port, "DicomPort": dicom_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "Plugins": [str(PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1, "HttpTimeout": 10,
    }
    (workdir / "orthanc.json").write_text(json.dumps(config))
    log = open(workdir / "orthanc.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([exe, str(workdir / "orthanc.json")], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Orthanc exited: {(workdir / 'orthanc.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/system", timeout=1).status_code == 200:
                return Orthanc(url, proc, workdir)
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("Orthanc did not answer within 30 s")
