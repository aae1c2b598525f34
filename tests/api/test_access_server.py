"""Tokens end to end: issued and revoked with the real ``ihub token`` commands, used against a
real ``ihub serve`` process; the CLI's own query commands as operator and as a token."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imaging_hub.audit import AuditLog
from imaging_hub.config import Settings
from imaging_hub.schemas.records import SeriesRecord
from tests.api.access_data import publish
from tests.conftest import VENV_BIN, LiveServer, serving

Served = tuple[LiveServer, Path, list[SeriesRecord]]


def ihub(home: Path, *args: str, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ihub"), *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "IHUB_HOME": str(home), **(env or {})})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("access-serve")
    everything = publish(home)
    with serving(home) as live:
        yield live, home, everything


def _series(client: httpx.Client, token: str | None) -> int:
    """Matching series the caller may see one by one (the exact part of the count; the
    rest, records it may count but not see, is protected)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    got = client.post("/api/v1/cohort/count", json={}, headers=headers)
    assert got.status_code == 200, got.text
    return _visible_part(got.json()["series"])


def _visible_part(value: dict[str, object]) -> int:
    return int(value["visible"] if "visible" in value else value["count"])  # type: ignore[call-overload]


def test_token_create_prints_the_token_last_and_the_server_honours_it(served: Served) -> None:
    live, home, everything = served
    made = ihub(home, "token", "create", "carol", "--scope", "controlled,source:alpha")
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    token = lines[-1]
    assert lines == [token] and token.startswith("ihub_")  # stdout holds the token alone
    assert "controlled,source:alpha" in made.stderr
    stored = (home / "tokens" / "carol.json").read_text()
    assert token not in stored and token[5:] not in stored
    listed = ihub(home, "token", "list", "--json")
    assert token not in listed.stdout
    assert json.loads(listed.stdout)[0]["scope"] == "open,controlled,source:alpha"
    with live.client() as client:
        anon = _series(client, None)
        assert anon == len({r.identifiers.series_uid for r in everything
                            if r.access.tier == "open"})
        mine = _series(client, token)
        assert mine == len({r.identifiers.series_uid for r in everything
                            if r.access.tier == "open" or (
                                r.access.tier == "controlled" and r.source == "alpha")})
        revoked = ihub(home, "token", "revoke", "carol")
        assert revoked.returncode == 0, revoked.stderr
        got = client.post("/api/v1/cohort/count", json={},
                          headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 401 and got.json()["error"] == "invalid_token"
        assert got.headers["www-authenticate"].startswith("Bearer ")
    lines = AuditLog(Settings(home=home).audit_dir).lines()
    assert [(x["caller"], x["action"], x["origin"]) for x in lines] == [
        ("carol", "count", "127.0.0.1")]
    listed = json.loads(ihub(home, "token", "list", "--json").stdout)
    assert listed[0]["revoked_at"] and listed[0]["last_used"]


def test_cli_counts_as_operator_by_default_and_as_a_token_when_given(served: Served) -> None:
    _, home, everything = served

    def series(*args: str, env: dict[str, str] | None = None) -> int:
        done = ihub(home, "count", "--json", *args, env=env)
        assert done.returncode == 0, done.stderr
        return _visible_part(json.loads(done.stdout)["series"])

    def want(tiers: set[str]) -> int:
        return len({r.identifiers.series_uid for r in everything if r.access.tier in tiers})

    assert series() == want({"open", "registration", "controlled"})
    assert series("--scope", "sequestered") == want({"open", "sequestered"})
    assert series("--scope", "open") == want({"open"})
    token = ihub(home, "token", "create", "dave", "--scope", "registration").stdout.strip()
    assert series("--token", token) == want({"open", "registration"})
    assert series(env={"IHUB_TOKEN": token}) == want({"open", "registration"})
    audit = AuditLog(Settings(home=home).audit_dir).lines()
    callers = [x["caller"] for x in audit if x["origin"] == "cli"]
    assert callers[-2:] == ["dave", "dave"] and callers[0].startswith("cli:")
    bad = ihub(home, "count", "--token", "ihub_" + "B" * 43)
    assert bad.returncode == 2 and "unknown token" in bad.stderr
    both = ihub(home, "count", "--token", token, "--scope", "open")
    assert both.returncode == 2 and "not both" in both.stderr
