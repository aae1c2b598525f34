"""A real OpenSearch cluster configured by deploy/: the integ-test distribution and the
security plugin from Maven Central (the same release as deploy/'s pinned image), nodes on
loopback running deploy/opensearch/opensearch.yml with certificates from deploy/certs.sh and
users from deploy/opensearch/security-init.sh. OpenSearch refuses root: as root the nodes run
as the unprivileged user ``nobody``."""

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
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port
from tests.deploy.files import DEPLOY, env_example

# OpenSearch 2.x runs on Java 17 (Debian's openjdk-17-jre-headless, scripts/setup.sh test)
JAVA_HOME = next(iter(sorted(Path("/usr/lib/jvm").glob("java-17-openjdk-*"))),
                 Path("/usr/lib/jvm/java-17-openjdk-amd64"))
M2 = Path.home() / ".m2" / "repository"
PASSWORDS = {"OPENSEARCH_INITIAL_ADMIN_PASSWORD": "Adm1n-Qx7!vLp2", "OPENSEARCH_USERNAME": "ihub",
             "OPENSEARCH_PASSWORD": "Ihub-Zr4#mKw9", "DASHBOARDS_PASSWORD": "Dash-Ty6$nPq3"}


def version() -> str:
    """The OpenSearch release deploy/ pins (OPENSEARCH_VERSION in .env.example)."""
    return env_example()["OPENSEARCH_VERSION"]


def maven(group: str, artifact: str, ver: str) -> Path:
    """A zip from Maven Central through the local repository (mvn fetches it once)."""
    path = M2 / group.replace(".", "/") / artifact / ver / f"{artifact}-{ver}.zip"
    if not path.exists():
        subprocess.run(["mvn", "-q", "dependency:get", f"-Dartifact={group}:{artifact}:{ver}:zip",
                        "-Dtransitive=false"], check=True, capture_output=True, timeout=600)
    return path


def run_as(user: pwd.struct_passwd | None, cmd: list[str]) -> list[str]:
    return cmd if user is None else ["runuser", "-u", user.pw_name, "--", *cmd]


@dataclass
class Cluster:
    base: Path
    certs: Path
    http_ports: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ca(self) -> Path:
        return self.certs / "root-ca.pem"

    def url(self, i: int = 0, host: str = "localhost") -> str:
        return f"https://{host}:{self.http_ports[i]}"

    def log(self, i: int) -> str:
        node = self.base / f"node-{i}"
        logs = [node / "launcher.log", *sorted((node / "logs").glob("*.log"))]
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)


def _install(base: Path) -> Path:
    dist_zip = maven("org.opensearch.distribution.integ-test-zip", "opensearch", version())
    plugin_zip = maven("org.opensearch.plugin", "opensearch-security", version() + ".0")
    subprocess.run(["unzip", "-q", str(dist_zip), "-d", str(base)], check=True)  # keeps +x
    dist = base / f"opensearch-{version()}"
    env = {**os.environ, "OPENSEARCH_JAVA_HOME": str(JAVA_HOME)}
    subprocess.run([str(dist / "bin" / "opensearch-plugin"), "install", "--batch",
                    plugin_zip.as_uri()], check=True, capture_output=True, env=env)
    return dist


def _configure(base: Path, dist: Path, n: int, user: pwd.struct_passwd | None) -> Path:
    """certs.sh's certificates, security-init.sh's users, one config dir per node."""
    certs = base / "certs"
    names = [f"opensearch-node{i + 1}" for i in range(n)]
    subprocess.run(["bash", str(DEPLOY / "certs.sh"), str(certs), *names], check=True,
                   capture_output=True)
    security = base / "security"
    subprocess.run(["bash", str(DEPLOY / "opensearch" / "security-init.sh"), str(security)],
                   check=True, capture_output=True, env={
                       **os.environ, **PASSWORDS, "OPENSEARCH_HOME": str(dist),
                       "JAVA_HOME": str(JAVA_HOME)})
    for i, name in enumerate(names):
        conf = base / f"node-{i}" / "config"
        shutil.copytree(dist / "config", conf, ignore=shutil.ignore_patterns("opensearch-security"))
        shutil.copy(DEPLOY / "opensearch" / "opensearch.yml", conf / "opensearch.yml")
        # the launcher runs in the (shared, read-only) distribution folder: per-node JVM logs
        jvm = (conf / "jvm.options").read_text()
        node = base / f"node-{i}"
        jvm = jvm.replace("=logs/", f"={node}/logs/").replace("=data", f"={node}/data")
        (conf / "jvm.options").write_text(jvm)
        shutil.copytree(security, conf / "opensearch-security")
        (conf / "certs").mkdir()
        shutil.copy(certs / "root-ca.pem", conf / "certs" / "root-ca.pem")
        shutil.copy(certs / f"{name}.pem", conf / "certs" / "node.pem")
        shutil.copy(certs / f"{name}-key.pem", conf / "certs" / "node-key.pem")
        for sub in ("data", "logs", "tmp"):
            (base / f"node-{i}" / sub).mkdir()
        if user is not None:
            subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}",
                            str(base / f"node-{i}")], check=True)
    return certs


def _start_node(base: Path, dist: Path, i: int, n: int, http: list[int], transport: list[int],
                user: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
    node = base / f"node-{i}"
    env = {"PATH": os.environ["PATH"], "OPENSEARCH_JAVA_HOME": str(JAVA_HOME),
           "OPENSEARCH_PATH_CONF": str(node / "config"), "OPENSEARCH_TMPDIR": str(node / "tmp"),
           "OPENSEARCH_JAVA_OPTS": "-Xms256m -Xmx256m",
           "NODE_NAME": f"opensearch-node{i + 1}",
           "DISCOVERY_SEED_HOSTS": ",".join(f"127.0.0.1:{p}" for p in transport),
           "INITIAL_CLUSTER_MANAGER_NODES": ",".join(f"opensearch-node{j + 1}" for j in range(n))}
    # loopback instead of opensearch.yml's 0.0.0.0: bootstrap checks stay off on a test box
    cmd = [str(dist / "bin" / "opensearch"), "-Enetwork.host=127.0.0.1",
           f"-Ehttp.port={http[i]}", f"-Etransport.port={transport[i]}",
           f"-Epath.data={node / 'data'}", f"-Epath.logs={node / 'logs'}"]
    if user is not None:  # runuser resets the environment: pass ours through env(1)
        cmd = run_as(user, ["env", *(f"{k}={v}" for k, v in env.items()), *cmd])
    with open(node / "launcher.log", "wb") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=node,
                                process_group=0)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


@contextmanager
def opensearch_cluster(nodes: int = 2) -> Iterator[Cluster]:
    """Start ``nodes`` nodes; on exit stop them by process group and delete everything."""
    base = Path(tempfile.mkdtemp(prefix="ihub-os-"))
    base.chmod(0o755)  # the node user must reach its folders
    user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    http = [free_port() for _ in range(nodes)]
    transport = [free_port() for _ in range(nodes)]
    cluster = Cluster(base=base, certs=base / "certs", http_ports=http)
    try:
        dist = _install(base)
        _configure(base, dist, nodes, user)
        cluster.procs = [_start_node(base, dist, i, nodes, http, transport, user)
                         for i in range(nodes)]
        yield cluster
    finally:
        _stop(cluster.procs)
        shutil.rmtree(base, ignore_errors=True)
