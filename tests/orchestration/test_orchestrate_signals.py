"""``ihub orchestrate`` stops everything it started when it is told to stop: after SIGTERM
(a service manager, ``docker stop``, Kubernetes) or SIGINT (Ctrl-C, ``kill -INT``) sent to
the ``ihub`` process alone, no Dagster webserver, daemon or code server is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import IDC_SLICE, VENV_BIN, free_port
from tests.orchestration.test_webserver import wait_for_location

pytestmark = pytest.mark.slow

STOP_WITHIN = 40.0  # seconds: ihub's own grace period (20 s) plus interpreter shutdown


def start(home: Path, port: int) -> subprocess.Popen[bytes]:
    (home / "sources.toml").write_text(
        f'[sources.idc]\ntype = "idc"\ncollections = {list(IDC_SLICE[:2])!r}\n'.replace("'", '"'))
    env = {**os.environ, "IHUB_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    # its own session, so the test can clean up everything if ihub fails to
    return subprocess.Popen([str(VENV_BIN / "ihub"), "orchestrate", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_until_served(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ihub orchestrate exited: {proc.stderr.read()[-2000:]!r}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                wait_for_location(url, deadline)
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the Dagster webserver did not start in time")


def in_session(sid: int) -> list[psutil.Process]:
    """Processes of session ``sid`` (the test starts ihub as a session leader, so this is
    everything ihub started, however late, unless something called setsid)."""
    found = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(p.pid) == sid:
                found.append(p)
    return found


def living(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline())[:120]}")
    return alive


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_orchestrate_leaves_no_process_behind(tmp_path: Path, signum: signal.Signals) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    try:
        wait_until_served(proc, f"http://127.0.0.1:{port}")
        descendants = psutil.Process(proc.pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in descendants]
        # what must be stopped: webserver, daemon, and the code servers they spawned
        assert any("dagster-webserver" in c for c in commands), commands
        assert any("dagster-daemon" in c for c in commands), commands
        assert sum("grpc" in c or "code-server" in c for c in commands) >= 2, commands

        os.kill(proc.pid, signum)  # to ihub alone, not to its process group
        returncode = proc.wait(timeout=STOP_WITHIN)
        deadline = time.monotonic() + 5
        while living(descendants + in_session(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert living(descendants + in_session(proc.pid)) == []
        assert returncode == 128 + signum
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2)
    finally:
        for p in in_session(proc.pid):  # whatever a failure left behind
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        proc.wait(timeout=30)
