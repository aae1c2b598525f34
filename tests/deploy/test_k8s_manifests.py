"""deploy/k8s/ checked offline: every manifest against the Kubernetes JSON schemas that
kubernetes-validate ships (strict: unknown fields are errors) for a pinned Kubernetes
release, then the wiring a schema cannot see: Services select pods that exist, every
Secret, ConfigMap and claim a pod uses is defined, OpenSearch is a 3-node StatefulSet with TLS
and a disruption budget, the API is probed on its health endpoint, and imaging-hub's
containers get only the configuration contract's environment names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.deploy.files import (
    CONTRACT_ENV,
    CONTRACT_PREFIXES,
    DEPLOY,
    IHUB_IMAGE,
    K8S,
    K8S_VERSION,
    load_all,
    load_yaml,
)

MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
TEMPLATES = {"secrets.example.yaml"}  # applied by hand, never by kustomize


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    """Everything `kubectl apply -k deploy/k8s` creates."""
    listed = load_yaml(K8S / "kustomization.yaml")["resources"]
    return [doc for name in listed for doc in load_all(K8S / name)]


@pytest.fixture(scope="module")
def secrets() -> dict[str, set[str]]:
    """Secrets the operator creates (secrets.example.yaml): name -> keys."""
    templates = [d for d in load_all(K8S / "secrets.example.yaml") if d["kind"] == "Secret"]
    (pg,) = [d for d in templates if d["metadata"]["name"] == "dagster-postgres"]
    assert urlsplit(pg["stringData"]["url"]).scheme == "postgresql+psycopg2"
    return {d["metadata"]["name"]: set(d["stringData"]) for d in templates}


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in docs:
        template = d.get("spec", {}).get("template")
        if template:
            yield d["metadata"]["name"], template


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_kubernetes_schema(path: Path) -> None:
    resources = load_all(path)
    assert resources, f"{path.name} holds no resource"
    for resource in resources:
        # SchemaNotFoundError (an unknown kind/apiVersion) fails the test as well
        kubernetes_validate.validate(resource, K8S_VERSION, strict=True)


def test_the_schema_check_fails_on_broken_manifests() -> None:
    deployment = find(load_all(K8S / "api.yaml"), "Deployment", "ihub-api")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError, match="replica"):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    probe = find(load_all(K8S / "api.yaml"), "Deployment", "ihub-api")
    probe["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(probe, K8S_VERSION, strict=True)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate({"apiVersion": "apps/v1", "kind": "Deploymnet"},
                                     K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_templates() -> None:
    kustomization = load_yaml(K8S / "kustomization.yaml")
    assert set(kustomization["resources"]) == {p.name for p in MANIFESTS} - TEMPLATES
    assert kustomization["namespace"] == "imaging-hub"
    assert [i["name"] for i in kustomization["images"]] == [IHUB_IMAGE]


def test_services_select_existing_pods(docs: list[dict[str, Any]]) -> None:
    labels = [t["metadata"]["labels"] for _, t in pod_specs(docs)]
    for svc in (d for d in docs if d["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        assert any(selector.items() <= lab.items() for lab in labels), svc["metadata"]["name"]


def test_every_secret_configmap_and_claim_a_pod_uses_exists(
    docs: list[dict[str, Any]], secrets: dict[str, set[str]],
) -> None:
    configmaps = {d["metadata"]["name"]: set(d["data"]) for d in docs if d["kind"] == "ConfigMap"}
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    for owner, template in pod_specs(docs):
        spec = template["spec"]
        for vol in spec.get("volumes", []):
            if "secret" in vol:
                assert vol["secret"]["secretName"] in secrets, owner
            if "configMap" in vol:
                assert vol["configMap"]["name"] in configmaps, owner
            if "persistentVolumeClaim" in vol:
                assert vol["persistentVolumeClaim"]["claimName"] in claims, owner
        for c in spec["containers"] + spec.get("initContainers", []):
            for src in c.get("envFrom", []):
                if "secretRef" in src:
                    assert src["secretRef"]["name"] in secrets, owner
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps, owner
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], f"{owner}: {ref}"


def ihub_containers(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for owner, template in pod_specs(docs):
        for c in template["spec"]["containers"]:
            if c["image"].split(":")[0] == IHUB_IMAGE:
                yield owner, c


def test_imaging_hub_containers_speak_the_configuration_contract(
    docs: list[dict[str, Any]],
) -> None:
    owners = {owner for owner, _ in ihub_containers(docs)}
    assert owners == {"ihub-api", "dagster-code", "dagster-webserver", "dagster-daemon",
                      "dagster-migrate"}
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    for owner, c in ihub_containers(docs):
        env = {v["name"]: v.get("value") for v in c.get("env", [])}
        for src in c.get("envFrom", []):
            env.update(find(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
        ours = {k for k in env if k.startswith(CONTRACT_PREFIXES)}
        assert ours <= CONTRACT_ENV, f"{owner}: names outside the contract {ours - CONTRACT_ENV}"
        assert env["IHUB_STORE"] == "opensearch"
        url = urlsplit(env["OPENSEARCH_URL"])
        assert url.scheme == "https" and url.hostname in services and url.port == 9200
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts[str(Path(env["OPENSEARCH_CA_FILE"]).parent)] == "opensearch-ca"
        assert mounts[env["IHUB_HOME"]] == "ihub-home"
        assert {"OPENSEARCH_USERNAME", "OPENSEARCH_PASSWORD"} <= set(env)
        assert ("IHUB_DAGSTER_POSTGRES_URL" in env) == owner.startswith("dagster")


def test_opensearch_is_a_three_node_tls_statefulset_with_a_budget(
    docs: list[dict[str, Any]],
) -> None:
    sts = find(docs, "StatefulSet", "opensearch")
    spec = sts["spec"]
    assert spec["replicas"] == 3 and spec["podManagementPolicy"] == "Parallel"
    headless = find(docs, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    (node,) = spec["template"]["spec"]["containers"]
    env = {v["name"]: v.get("value") for v in node["env"]}
    assert env["INITIAL_CLUSTER_MANAGER_NODES"].split(",") == [
        f"{sts['metadata']['name']}-{i}" for i in range(spec["replicas"])]
    assert env["DISCOVERY_SEED_HOSTS"] == headless["metadata"]["name"]
    mounts = {m["mountPath"]: m["name"] for m in node["volumeMounts"]}
    cfg = "/usr/share/opensearch/config/"
    assert mounts[cfg + "certs"] == "certs" and mounts[cfg + "opensearch-security"] == "security"
    assert mounts["/usr/share/opensearch/data"] == "data"
    init = {c["name"]: c for c in spec["template"]["spec"]["initContainers"]}
    assert {"name": "security", "mountPath": "/security"} in init["security-init"]["volumeMounts"]
    pdb = find(docs, "PodDisruptionBudget", "opensearch")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= \
        spec["template"]["metadata"]["labels"].items()


def test_opensearch_config_map_carries_deploy_opensearch_files(
    docs: list[dict[str, Any]],
) -> None:
    data = find(docs, "ConfigMap", "opensearch-config")["data"]
    for name in ("opensearch.yml", "security-init.sh"):
        assert data[name] == (DEPLOY / "opensearch" / name).read_text(), \
            f"deploy/k8s/opensearch-config.yaml: {name} differs from deploy/opensearch/{name}"


def test_api_deployment_is_replicated_probed_and_sized(docs: list[dict[str, Any]]) -> None:
    api = find(docs, "Deployment", "ihub-api")
    assert api["spec"]["replicas"] == 2
    (c,) = api["spec"]["template"]["spec"]["containers"]
    port = c["command"][c["command"].index("--port") + 1]
    assert [p["containerPort"] for p in c["ports"]] == [int(port)]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/api/v1/health"
    assert {"requests", "limits"} <= set(c["resources"])


def test_dagster_runs_one_daemon_and_a_code_server_the_workspace_names(
    docs: list[dict[str, Any]],
) -> None:
    daemon = find(docs, "Deployment", "dagster-daemon")
    assert daemon["spec"]["replicas"] == 1
    assert daemon["spec"]["strategy"]["type"] == "Recreate"
    find(docs, "Deployment", "dagster-webserver")
    grpc = load_yaml(DEPLOY / "dagster" / "workspace.yaml")["load_from"][0]["grpc_server"]
    code_svc = find(docs, "Service", grpc["host"])
    assert [p["port"] for p in code_svc["spec"]["ports"]] == [grpc["port"]]
    code = find(docs, "Deployment", grpc["host"])
    cmd = code["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[cmd.index("-p") + 1] == str(grpc["port"])
