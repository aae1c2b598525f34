"""``ihub token create|list|revoke``: API tokens for the HTTP API's callers.

``create`` prints the token once, as the last line of stdout (everything else goes to
stderr), so ``TOKEN=$(ihub token create NAME --scope ...)`` captures it alone.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imaging_hub.access import parse_scope
from imaging_hub.errors import IhubError
from imaging_hub.search_ui.cli import JsonOpt, _fail, _settings, app, console
from imaging_hub.sources import load_sources
from imaging_hub.tokens import TokenStore

token_app = typer.Typer(help="API tokens: create (shown once), list, revoke.",
                        no_args_is_help=True)
app.add_typer(token_app, name="token")


def _store() -> TokenStore:
    return TokenStore(_settings().tokens_dir)


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what the token is for (letters, digits, "
                                              ". _ -); shown in the audit log.")],
    scope: Annotated[str, typer.Option(
        "--scope", help="Tiers (open, registration, controlled, sequestered), optionally "
        "narrowed by source:NAME / collection:ID, comma-separated; e.g. "
        "'controlled,source:midrc'.")],
) -> None:
    """Issue a token; it is printed once, as the last line of output."""
    try:
        parsed = parse_scope(scope)
        configured = _configured_sources()
        token = _store().create(name, parsed)
    except IhubError as exc:
        _fail(str(exc))
    unknown = sorted(parsed.sources - configured) if configured else []
    if unknown:
        console.print(f"[yellow]warning:[/yellow] source(s) {', '.join(unknown)} not in "
                      f"sources.toml (yet); the scope names them anyway")
    console.print(f"token {name!r} created with scope {parsed}")
    console.print("It is shown once, below; only its SHA-256 digest is kept.")
    sys.stdout.write(token + "\n")


def _configured_sources() -> set[str]:
    """Names in sources.toml (empty when it cannot be read: then no warning is given)."""
    try:
        return set(load_sources(_settings().sources_file))
    except IhubError:
        return set()


@token_app.command("list")
def list_tokens(as_json: JsonOpt = False) -> None:
    """Tokens (never the tokens themselves): name, scope, created, last used, revoked."""
    try:
        tokens = _store().list()
    except IhubError as exc:
        _fail(str(exc))
    rows = [{"name": t.record.name, "scope": t.record.scope,
             "created_at": t.record.created_at.isoformat(),
             "last_used": t.last_used.isoformat() if t.last_used else None,
             "revoked_at": t.record.revoked_at.isoformat() if t.record.revoked_at else None}
            for t in tokens]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("name", "scope", "created", "last used", "status")
    for t in tokens:
        rec = t.record
        status = f"[red]revoked {rec.revoked_at:%Y-%m-%d %H:%M}[/red]" if rec.revoked_at \
            else "active"
        table.add_row(rec.name, rec.scope, f"{rec.created_at:%Y-%m-%d %H:%M}",
                      f"{t.last_used:%Y-%m-%d %H:%M}" if t.last_used else "never", status)
    Console().print(table)


@token_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="Token name")]) -> None:
    """Revoke a token: its next request gets 401 (the record stays, marked revoked)."""
    try:
        record = _store().revoke(name)
    except IhubError as exc:
        _fail(str(exc))
    assert record.revoked_at is not None
    console.print(f"token {name!r} revoked at {record.revoked_at.isoformat()}")
