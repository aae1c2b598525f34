"""deploy/'s OpenSearch configuration on real nodes (the release deploy/ pins, from Maven
Central, with the security plugin): certificates from certs.sh carry transport TLS between
two nodes (nodes_dn) and HTTPS that verifies against root-ca.pem alone; security-init.sh's
users exist and no demo user does; imaging-hub's user owns ``ihub*`` indices and aliases and
nothing else."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.deploy.opensearch_cluster import PASSWORDS, Cluster, opensearch_cluster

pytestmark = pytest.mark.slow

ADMIN = ("admin", PASSWORDS["OPENSEARCH_INITIAL_ADMIN_PASSWORD"])
IHUB = (PASSWORDS["OPENSEARCH_USERNAME"], PASSWORDS["OPENSEARCH_PASSWORD"])


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with opensearch_cluster(nodes=2) as running:
        wait_for_green(running)
        yield running


def client(cluster: Cluster, auth: tuple[str, str], host: str = "localhost") -> httpx.Client:
    """A client that trusts deploy/certs.sh's CA and nothing else (OPENSEARCH_CA_FILE)."""
    ctx = ssl.create_default_context(cafile=str(cluster.ca))
    return httpx.Client(base_url=cluster.url(0, host), auth=auth, verify=ctx, timeout=30)


def wait_for_green(cluster: Cluster) -> None:
    deadline = time.monotonic() + 240
    last = ""
    while time.monotonic() < deadline:
        for i, proc in enumerate(cluster.procs):
            if proc.poll() is not None:
                raise RuntimeError(f"node {i} exited {proc.returncode}:\n{cluster.log(i)}")
        try:
            with client(cluster, ADMIN) as c:
                r = c.get("/_cluster/health", params={"wait_for_nodes": "2", "timeout": "5s"})
            last = r.text
            if r.status_code == 200 and r.json()["number_of_nodes"] == 2 and \
                    r.json()["status"] in ("green", "yellow"):
                return
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(2)
    raise RuntimeError(f"cluster not formed: {last}\n{cluster.log(0)}")


def test_two_nodes_form_a_cluster_over_tls_with_the_ca_alone(cluster: Cluster) -> None:
    with client(cluster, ADMIN) as c:
        nodes = c.get("/_cat/nodes", params={"h": "name", "format": "json"}).json()
    assert sorted(n["name"] for n in nodes) == ["opensearch-node1", "opensearch-node2"]
    with client(cluster, ADMIN, host="127.0.0.1") as c:  # the IP SAN
        assert c.get("/").status_code == 200
    with pytest.raises(httpx.ConnectError):  # not a publicly trusted certificate
        httpx.get(cluster.url(), auth=ADMIN, timeout=10)
    with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP
        httpx.get(cluster.url().replace("https", "http"), timeout=10)


def test_only_security_init_users_can_log_in(cluster: Cluster) -> None:
    for user, password in (ADMIN, IHUB, ("kibanaserver", PASSWORDS["DASHBOARDS_PASSWORD"])):
        with client(cluster, (user, password)) as c:
            info = c.get("/_plugins/_security/authinfo")
        assert info.status_code == 200 and info.json()["user_name"] == user
    for demo in (("admin", "admin"), ("kibanaro", "kibanaro"), ("logstash", "logstash"),
                 ("readall", "readall")):
        with client(cluster, demo) as c:
            assert c.get("/_plugins/_security/authinfo").status_code == 401, demo


def test_ihub_user_owns_its_prefix_and_nothing_else(cluster: Cluster) -> None:
    with client(cluster, IHUB) as c:
        info = c.get("/_plugins/_security/authinfo").json()
        assert "ihub_index_owner" in info["roles"]
        assert c.put("/ihub-series-000001").status_code == 200
        assert c.post("/_aliases", json={"actions": [
            {"add": {"index": "ihub-series-000001", "alias": "ihub-series"}}]}).status_code == 200
        bulk = c.post("/_bulk", params={"refresh": "true"},
                      content='{"index":{"_index":"ihub-series","_id":"1"}}\n{"modality":"CT"}\n',
                      headers={"content-type": "application/x-ndjson"})
        assert bulk.status_code == 200 and bulk.json()["errors"] is False
        hits = c.post("/ihub-series/_search", json={"query": {"match_all": {}}}).json()
        assert hits["hits"]["total"]["value"] == 1
        assert c.put("/someone-else").status_code == 403
        assert c.get("/.opendistro_security/_search").status_code == 403
        assert c.delete("/ihub-series-000001").status_code == 200
