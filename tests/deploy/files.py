"""What the deploy tests share: the configuration contract's environment names, loaders
for deploy/'s files, and docker compose's variable interpolation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from imaging_hub.orchestration.instance import POSTGRES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSION = "1.31.0"  # the oldest Kubernetes release these manifests are meant for


def _postgres_env_name() -> str:
    """The variable orchestration/instance.py reads the PostgreSQL URL from."""
    return str(yaml.safe_load(POSTGRES)["storage"]["postgres"]["postgres_url"]["env"])


def _search_engine_names(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}_{key}" for key in (
        "URL", "USERNAME", "PASSWORD", "API_KEY", "CA_FILE", "VERIFY_CERTS"))


# The configuration contract of the store backends and the orchestration (one list until
# store/ exports its own constant; then import it here).
CONTRACT_ENV: frozenset[str] = frozenset((
    "IHUB_STORE", "IHUB_INDEX_PREFIX", "IHUB_HOME", "DAGSTER_HOME", _postgres_env_name(),
    *_search_engine_names("OPENSEARCH"), *_search_engine_names("ELASTICSEARCH"),
))
CONTRACT_PREFIXES = ("IHUB_", "OPENSEARCH_", "ELASTICSEARCH_", "DAGSTER_")
IHUB_IMAGE = "imaging-hub"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def env_example() -> dict[str, str]:
    """deploy/.env.example as a mapping (comments and blank lines left out)."""
    pairs = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
                  r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """docker compose's interpolation (``$$``, ``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:?e}``,
    ``${V?e}``, ``$V``) applied to every string of a loaded compose file.

    Raises:
        KeyError: a variable without default is not in ``env`` (compose would leave it
            empty or refuse to start).
    """
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg")
        current = env.get(name)
        if op in (":-", "-"):
            unset = current is None or (op == ":-" and current == "")
            return arg if unset else str(current)
        if op in (":?", "?") and (current is None or (op == ":?" and current == "")):
            raise KeyError(f"{name}: {arg}")
        if current is None:
            raise KeyError(f"{name} is not set and has no default")
        return current

    return _VAR.sub(one, value)


def variables_used(text: str) -> set[str]:
    """Names of the variables a compose file interpolates."""
    return {m.group("name") or m.group("bare") for m in _VAR.finditer(text)
            if m.group(0) != "$$"}
