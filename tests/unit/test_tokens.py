"""The token store (hashed, 0600, revocation seen by a running server) and the audit log."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from imaging_hub.access import Caller, anonymous, parse_scope
from imaging_hub.audit import AuditLog
from imaging_hub.errors import AuditError, InvalidToken, TokenError
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.tokens import TOKEN_RE, TokenStore


def test_tokens_are_random_shown_once_and_stored_as_digests_only(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    tokens = {store.create(f"t{i}", parse_scope("controlled")) for i in range(5)}
    assert len(tokens) == 5 and all(TOKEN_RE.fullmatch(t) for t in tokens)
    for path in (tmp_path / "tokens").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not any(t in text or t[5:] in text for t in tokens), path
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "tokens").stat().st_mode) == 0o700
    record = json.loads((tmp_path / "tokens" / "t0.json").read_text())
    assert set(record) == {"name", "scope", "sha256", "created_at", "revoked_at"}
    assert record["scope"] == "open,controlled"


def test_verify_accepts_active_tokens_and_names_why_others_fail(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    token = store.create("alice", parse_scope("registration,source:midrc"))
    record, scope = store.verify(token)
    assert record.name == "alice" and str(scope) == "open,registration,source:midrc"
    with pytest.raises(InvalidToken, match="malformed"):
        store.verify("not-a-token")
    with pytest.raises(InvalidToken, match="malformed"):
        store.verify(token + "x")
    with pytest.raises(InvalidToken, match="unknown token"):
        store.verify("ihub_" + "A" * 43)
    store.revoke("alice")
    with pytest.raises(InvalidToken, match="revoked"):
        store.verify(token)
    with pytest.raises(TokenError, match="already revoked"):
        store.revoke("alice")
    with pytest.raises(TokenError, match="no token named 'bob'"):
        store.revoke("bob")


def test_a_name_is_taken_until_revoked_and_a_new_token_replaces_the_old(
        tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    old = store.create("ci", parse_scope("open"))
    with pytest.raises(TokenError, match="exists"):
        store.create("ci", parse_scope("open"))
    store.revoke("ci")
    new = store.create("ci", parse_scope("controlled"))
    assert str(store.verify(new)[1]) == "open,controlled"
    with pytest.raises(InvalidToken, match="unknown"):
        store.verify(old)


def test_a_running_server_sees_a_revocation_at_once(tmp_path: Path) -> None:
    """The server's store caches records; the operator's command is another process (here
    another instance). Even with the folder's mtime put back, the token's own file is
    re-read before it is accepted."""
    server = TokenStore(tmp_path / "tokens")
    operator = TokenStore(tmp_path / "tokens")
    token = operator.create("alice", parse_scope("controlled"))
    assert server.verify(token)[0].name == "alice"
    folder = tmp_path / "tokens"
    before = folder.stat()
    operator.revoke("alice")
    os.utime(folder, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(InvalidToken, match="revoked"):
        server.verify(token)


def test_last_use_is_recorded_and_listed(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    token = store.create("alice", parse_scope("controlled"))
    assert store.list()[0].last_used is None
    store.verify(token)
    listed = store.list()
    assert [t.record.name for t in listed] == ["alice"] and listed[0].last_used is not None


def test_a_corrupt_record_refuses_its_token_only_and_is_reported(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens")
    good = store.create("good", parse_scope("open"))
    bad = store.create("bad", parse_scope("open"))
    (tmp_path / "tokens" / "bad.json").write_text("{not json")
    assert store.verify(good)[0].name == "good"
    with pytest.raises(InvalidToken):
        store.verify(bad)
    with pytest.raises(TokenError, match="bad.json: unreadable token record"):
        store.list()


def test_audit_lines_name_the_caller_and_query_never_the_token(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit")
    tokens = TokenStore(tmp_path / "tokens")
    token = tokens.create("alice", parse_scope("controlled"))
    record, scope = tokens.verify(token)
    query = CohortQuery.model_validate({"filters": {"modality": ["CT"]}})
    assert audit.record(Caller(record.name, scope, "10.0.0.1"), "count", query)
    assert not audit.record(anonymous("10.0.0.2"), "count", query)
    assert not audit.record(Caller("o", parse_scope("open")), "count", query)
    lines = audit.lines()
    assert len(lines) == 1
    line = lines[0]
    assert line["caller"] == "alice" and line["scope"] == "open,controlled"
    assert line["origin"] == "10.0.0.1" and line["action"] == "count"
    assert line["query"]["filters"]["modality"]
    files = list((tmp_path / "audit").rglob("*.jsonl"))
    assert len(files) == 1 and files[0].parent.name == line["time"][:10]
    assert token not in files[0].read_text()
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_an_audit_log_that_cannot_be_written_refuses_the_query(tmp_path: Path) -> None:
    (tmp_path / "audit").write_text("a file where the folder should be")
    audit = AuditLog(tmp_path / "audit")
    with pytest.raises(AuditError, match="query refused"):
        audit.record(Caller("alice", parse_scope("controlled")), "search", None)
    assert not audit.record(anonymous(), "search", None)  # not audited: not refused
