"""Real local OpenSearch / Elasticsearch nodes for tests, run by ``scripts/<kind>.sh``.

``start_engine(kind, home, nodes, port)`` runs ``scripts/<kind>.sh start`` with
``IHUB_HOME=home`` and returns an :class:`Engine` (URL, node PIDs, kill / restart one node,
stop). The scripts fetch and cache the engine (see their headers); the nodes run as the
unprivileged ``ihub-search`` user when the tests run as root.

``home`` must be a folder that no one re-tightens while the nodes run: as root the script
gives ``ihub-search`` search permission (an ACL) on ``home``'s parents, and pytest resets
its ``pytest-of-<user>`` base folder to mode 700 at every session start (another session
running at the same time would cut the nodes off their files). The fixtures in
``tests/conftest.py`` use ``tempfile.mkdtemp()`` for this reason.

Errors: every failing script command raises :class:`EngineError` carrying the command, its
exit code, stdout and stderr (the script prints the node's log lines on a failed start).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

EngineKind = Literal["opensearch", "elasticsearch"]
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
URL_VARS: dict[EngineKind, str] = {
    "opensearch": "OPENSEARCH_URL",
    "elasticsearch": "ELASTICSEARCH_URL",
}
TRANSPORT_OFFSET = 100  # the scripts put node i's transport port at P + 100 + i - 1
SCRIPT_TIMEOUT = 900.0  # a cold cache fetches ~160 MB through mvn before starting


class EngineError(RuntimeError):
    """A ``scripts/<kind>.sh`` command failed, or a node did not do what was asked."""


def run_script(
    kind: EngineKind, home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``scripts/<kind>.sh ARGS`` with ``IHUB_HOME=home``; never raises on exit codes."""
    full_env = {**os.environ, **(env or {}), "IHUB_HOME": str(home)}
    return subprocess.run(
        ["bash", str(SCRIPTS / f"{kind}.sh"), *args], env=full_env, capture_output=True,
        text=True, timeout=SCRIPT_TIMEOUT, check=False)


def _checked(kind: EngineKind, home: Path, *args: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the script; raise ``EngineError`` with its whole output unless it exits 0."""
    done = run_script(kind, home, *args, env=env)
    if done.returncode != 0:
        raise EngineError(
            f"scripts/{kind}.sh {' '.join(args)} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def url_line(kind: EngineKind, stdout: str) -> str:
    """The URL from the ``<KIND>_URL=...`` last line of stdout; ``EngineError`` if absent."""
    lines = stdout.strip().splitlines()
    prefix = f"{URL_VARS[kind]}="
    if not lines or not lines[-1].startswith(prefix):
        raise EngineError(f"scripts/{kind}.sh did not end with {prefix}...: {stdout!r}")
    return lines[-1][len(prefix):]


def pid_running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(nodes: int) -> int:
    """A base port P with P..P+nodes-1 and the transport ports P+100.. all free.

    Drawn below Linux's ephemeral range (32768+) so client sockets do not take them.
    """
    for _ in range(200):
        base = random.randrange(20000, 32000 - TRANSPORT_OFFSET - nodes)
        ports = [base + i for i in range(nodes)]
        ports += [p + TRANSPORT_OFFSET for p in ports]
        if all(port_free(p) for p in ports):
            return base
    raise EngineError(f"no free range of {nodes} ports found between 20000 and 32000")


@dataclass
class Engine:
    """A running cluster started by ``scripts/<kind>.sh`` under ``home``."""

    kind: EngineKind
    home: Path
    url: str
    port: int
    nodes: int
    heap: str | None = None

    def node_dir(self, i: int) -> Path:
        return self.home / self.kind / f"node-{i}"

    def node_pid(self, i: int) -> int | None:
        """PID of node ``i`` (1-based) if it is running, else None."""
        try:
            pid = int((self.node_dir(i) / "pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_running(pid) else None

    def node_pids(self) -> list[int]:
        """PIDs of the running nodes, node 1 first (stopped nodes are left out)."""
        pids = [self.node_pid(i) for i in range(1, self.nodes + 1)]
        return [p for p in pids if p is not None]

    def kill_node(self, i: int, sig: int = signal.SIGKILL, timeout: float = 60.0) -> int:
        """Send ``sig`` to node ``i``; for SIGKILL/SIGTERM wait until it is gone.

        Returns the PID. Raises ``EngineError`` if the node is not running or outlives
        ``timeout``.
        """
        pid = self.node_pid(i)
        if pid is None:
            raise EngineError(f"{self.kind} node-{i} is not running")
        os.kill(pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            deadline = time.monotonic() + timeout
            while pid_running(pid):
                if time.monotonic() > deadline:
                    raise EngineError(f"{self.kind} node-{i} (pid {pid}) outlived signal {sig}")
                time.sleep(0.1)
        return pid

    def restart_node(self, i: int) -> None:
        """Re-launch node ``i`` with its settings; returns once all nodes joined again."""
        _checked(self.kind, self.home, "start-node", str(i))

    def status(self) -> str:
        """The script's ``status`` output (nodes, PIDs, ports, health)."""
        return run_script(self.kind, self.home, "status").stdout

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after the script's timeout)."""
        _checked(self.kind, self.home, "stop")


def start_engine(kind: EngineKind, home: Path, nodes: int = 1, port: int | None = None,
                 heap: str | None = None) -> Engine:
    """Start ``nodes`` nodes of ``kind`` under ``home`` and wait until they formed a cluster.

    ``port`` None picks a free range (and retries twice if another process takes a port
    first). ``heap`` (e.g. ``"512m"``) sets IHUB_ENGINE_HEAP. Raises ``EngineError`` with the
    script's output if the engine cannot start; nothing is left running then.
    """
    env = {"IHUB_ENGINE_HEAP": heap} if heap else {}
    retries = 2 if port is None else 0
    while True:
        chosen = port if port is not None else free_port_range(nodes)
        try:
            done = _checked(kind, home, "start", "--nodes", str(nodes), "--port", str(chosen),
                            env=env)
            return Engine(kind, home, url_line(kind, done.stdout), chosen, nodes, heap)
        except EngineError as exc:
            if retries and "is in use by another process" in str(exc):
                retries -= 1
                continue
            run_script(kind, home, "stop")
            raise
        except subprocess.TimeoutExpired:
            run_script(kind, home, "stop")
            raise
