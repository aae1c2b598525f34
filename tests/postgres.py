"""A real PostgreSQL (Debian package ``postgresql``) for tests: a fresh cluster made with
initdb in a temporary directory, owned by an unprivileged user (PostgreSQL refuses to run as
root), password authentication, listening on a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import free_port

USER, PASSWORD = "ihub_test", "pg-Secret_1"


def bindir() -> Path:
    """Directory of initdb/pg_ctl of the newest installed PostgreSQL major version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql; "
                           "scripts/setup.sh test installs it)")
    return found[-1].parent


def as_owner(cmd: list[str]) -> list[str]:
    """``cmd`` run as the unprivileged ``postgres`` user when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class Postgres:
    port: int
    workdir: Path

    def url(self, database: str, scheme: str = "postgresql") -> str:
        """libpq's URL (psycopg2.connect); SQLAlchemy users (Dagster) pass
        ``scheme="postgresql+psycopg2"``: SQLAlchemy 2.1 maps a bare ``postgresql://`` to
        psycopg 3, which dagster-postgres does not install."""
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        return int((self.workdir / "data" / "postmaster.pid").read_text().split()[0])


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """Start PostgreSQL; on exit stop it by PID (fast shutdown, then SIGKILL) and delete it."""
    workdir = Path(tempfile.mkdtemp(prefix="ihub-pg-"))
    if os.geteuid() == 0:
        pg = pwd.getpwnam("postgres")
        os.chown(workdir, pg.pw_uid, pg.pw_gid)
    (workdir / "pw").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(workdir / "pw", pg.pw_uid, pg.pw_gid)
    server = Postgres(port=free_port(), workdir=workdir)
    bin_ = bindir()
    pid = None
    try:
        subprocess.run(as_owner([str(bin_ / "initdb"), "-D", str(workdir / "data"), "-U", USER,
                                 "--pwfile", str(workdir / "pw"), "--auth", "scram-sha-256",
                                 "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)
        opts = f"-h 127.0.0.1 -p {server.port} -k {workdir}"
        subprocess.run(as_owner([str(bin_ / "pg_ctl"), "-D", str(workdir / "data"), "-l",
                                 str(workdir / "log"), "-o", opts, "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        pid = server.pid
        yield server
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGINT)  # the postmaster's "fast" shutdown
            if not _wait_gone(pid, 30):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 10)
        shutil.rmtree(workdir, ignore_errors=True)
