"""Property-based API fuzzing from our own /openapi.json: no input may cause a 5xx."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import VENV_BIN, LiveServer

pytestmark = pytest.mark.slow


def test_no_server_errors_under_schemathesis(server: LiveServer) -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "schemathesis"), "run", f"{server.url}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "30", "--seed", "20261122",
         "--phases", "examples,coverage,fuzzing",
         "--no-color"],
        capture_output=True, text=True, timeout=600)
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert "passed" in proc.stdout.lower(), tail
