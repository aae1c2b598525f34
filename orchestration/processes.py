"""The processes ``ihub orchestrate`` runs (Dagster's webserver and daemon, and everything
they start: code servers, run workers, step processes), started and stopped as one unit.

Each child gets a process group of its own, which its descendants inherit (Dagster starts
code servers and run workers without a new session or group on POSIX). Stopping sends
SIGTERM to every group and to any descendant that left its group, waits a grace period for
all of them to go, then SIGKILLs what is left, so a stopped ``ihub orchestrate`` leaves no
orphan behind. SIGTERM and SIGINT only set a flag while the supervisor is active; the waits
return when it is set, and leaving the ``with`` block stops everything.

Linux only for descendants that changed their group (read from ``/proc``); process groups
work on any POSIX system.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
POLL_SECONDS = 0.2


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) for every live, non-zombie process in /proc."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:  # gone meanwhile, or no /proc at all
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z":
            table[int(entry.parent.name)] = (int(fields[1]), int(fields[2]))
    return table


def descendants(roots: Sequence[int]) -> set[int]:
    """Live descendants of ``roots`` (not the roots themselves)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _any_alive(groups: Sequence[int], strays: set[int]) -> bool:
    """Whether a live (non-zombie) process is left in ``groups`` or among ``strays``."""
    if not Path("/proc/self/stat").exists():  # no /proc: ask the kernel per group
        return any(_group_alive(g) for g in groups)
    table = _proc_table()
    return bool(strays & set(table)) or any(pgid in groups for _, pgid in table.values())


def _signal_quietly(pid: int, signum: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, signum)


class Supervisor:
    """Children started by name, each in its own process group; see the module docstring."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.signalled: int | None = None
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.signalled = signum

    def __enter__(self) -> Supervisor:
        self._previous = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.stop()
        finally:
            for signum, handler in self._previous.items():
                signal.signal(signum, handler)

    def start(self, name: str, cmd: list[str], quiet: bool = False) -> None:
        """Start ``cmd`` as child ``name`` in a new process group (output discarded if quiet)."""
        out = subprocess.DEVNULL if quiet else None
        self.children[name] = subprocess.Popen(cmd, env=self.env, process_group=0,
                                               stdout=out)

    def wait_for(self, name: str) -> int | None:
        """Exit status of child ``name`` (then no longer supervised), or None as soon as a
        stop signal arrived."""
        while self.signalled is None:
            code = self.children[name].poll()
            if code is not None:
                del self.children[name]
                return code
            time.sleep(POLL_SECONDS)
        return None

    def wait_any(self) -> tuple[str, int] | None:
        """(name, exit status) of the first child to exit, or None on a stop signal."""
        while self.signalled is None:
            for name, proc in self.children.items():
                code = proc.poll()
                if code is not None:
                    return name, code
            time.sleep(POLL_SECONDS)
        return None

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every child's group and stray descendant; SIGKILL what outlives ``grace``."""
        for signum in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(signum, signal.SIG_IGN)
        groups = [p.pid for p in self.children.values()]
        strays = descendants(groups)
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            for pgid in groups:
                _signal_quietly(pgid, sig, group=True)
            for pid in strays:
                _signal_quietly(pid, sig, group=False)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                for proc in self.children.values():
                    proc.poll()  # reap our own children
                if not _any_alive(groups, strays):
                    return
                time.sleep(POLL_SECONDS)
