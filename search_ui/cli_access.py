"""Who the query commands (``ihub search``, ``ihub count``) ask as.

The CLI runs where ``IHUB_HOME`` is readable, so it acts as the operator: by default with
the scope ``open,registration,controlled`` (what every query saw before tokens existed;
sequestered records only when asked for, so they never land in a terminal or a CI log by
accident). ``--scope SCOPE`` sets another operator scope (``--scope sequestered`` to count
sequestered data, ``--scope open`` to preview the public view); ``--token TOKEN`` (or
``IHUB_TOKEN``) asks exactly as that token's holder would over HTTP. Either way the query
is audited like an API query (caller ``cli:<user>`` or the token's name, origin ``cli``).
"""

from __future__ import annotations

import getpass
import os
from typing import Annotated

import typer

from imaging_hub.access import OPERATOR_SCOPE, Caller, parse_scope
from imaging_hub.audit import AuditLog
from imaging_hub.config import Settings
from imaging_hub.errors import AccessError
from imaging_hub.indexers import vocab
from imaging_hub.search_ui.guard import GuardedQueries
from imaging_hub.search_ui.protect import Protection
from imaging_hub.search_ui.service import QueryService
from imaging_hub.store.factory import open_store
from imaging_hub.tokens import TokenStore

TokenOpt = Annotated[str | None, typer.Option(
    "--token", envvar="IHUB_TOKEN", show_envvar=True,
    help="Ask as this API token's holder would (default: as operator).")]
ScopeOpt = Annotated[str | None, typer.Option(
    "--scope", help="Operator scope, e.g. 'sequestered' or 'open' (default: "
    "open,registration,controlled).")]


def operator_name() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers): the uid will do
        return f"cli:uid{os.getuid()}"


def cli_caller(settings: Settings, token: str | None, scope: str | None) -> Caller:
    """The caller a query command asks as. Raises ``AccessError`` (bad token or scope,
    or both given)."""
    if token is not None and scope is not None:
        raise AccessError("give --token or --scope, not both")
    if token is not None:
        record, granted = TokenStore(settings.tokens_dir).verify(token.strip())
        return Caller(record.name, granted, "cli")
    return Caller(operator_name(), parse_scope(scope) if scope else OPERATOR_SCOPE, "cli")


def guarded_queries(settings: Settings) -> GuardedQueries:
    """The guarded query service over the configured store. Raises ``IhubError``."""
    return GuardedQueries(QueryService(open_store(settings), vocab.load(settings.home)),
                          AuditLog(settings.audit_dir), Protection.from_settings(settings))
