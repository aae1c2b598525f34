"""``ihub serve --workers N``: N worker processes, each opening the store itself, answer
the same questions the same way."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.conftest import VENV_BIN, free_port


def test_two_workers_answer_alike(idc_home: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "ihub"), "serve", "--port", str(port), "--workers", "2"],
        env={**os.environ, "IHUB_HOME": str(idc_home)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "no answer within 90 s"
            time.sleep(0.3)
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True)
                   if "python" in p.name().lower() or "ihub" in " ".join(p.cmdline())]
        assert len(workers) >= 2
        body = {"filters": {"modality": ["CT"]}, "facets": ["collection"], "counts": True}
        with httpx.Client(base_url=url, timeout=30) as client:
            answers = {client.post("/api/v1/search", json=body).content for _ in range(12)}
        assert len(answers) == 1  # every worker, every time, the same answer
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
