"""The audit log: every query over non-open data, with who asked and what.

What is audited: every query (search, count, facets, record lookup, source listing) by a
caller whose scope lets it see some non-open record one by one, i.e. a token with a
``registration``, ``controlled`` or ``sequestered`` scope, and the CLI acting as operator.
It is decided by the scope, not by what the answer held, so a query that happened to match
only open records is still logged (the caller could have seen more), and nothing about the
answer needs to be inspected. Anonymous callers and open-only tokens are not audited: they
see open records only, and aggregate counts over gated data, which small-count protection
covers; they carry no identity to log.

Where: ``$IHUB_HOME/audit/<UTC day>/<host>-<pid>.jsonl``, one JSON object per line::

    {"time": "2026-12-03T10:15:02.123456+00:00", "caller": "alice", "scope":
     "open,controlled,source:midrc", "origin": "127.0.0.1", "action": "search",
     "query": {...the request as validated...}}

A folder per day (rotation), a file per writing process (several API processes and pods
share IHUB_HOME; appends from several hosts to one file over NFS may interleave). The token
itself is never written. When a line cannot be written the query is refused
(``AuditError``; the API answers 503): no audited query goes unrecorded.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from imaging_hub.access import Caller
from imaging_hub.errors import AuditError


class AuditLog:
    """Appends audit lines under ``directory``; thread-safe."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._writer = f"{socket.gethostname()}-{os.getpid()}"

    def record(self, caller: Caller, action: str, query: BaseModel | dict[str, Any] | None,
               ) -> bool:
        """Log one query if ``caller`` is audited; return whether it was. Raises
        ``AuditError`` when the line cannot be written."""
        if not caller.audited:
            return False
        now = datetime.now(UTC)
        body = query.model_dump(mode="json", by_alias=True, exclude_defaults=True) \
            if isinstance(query, BaseModel) else query
        line = json.dumps({
            "time": now.isoformat(), "caller": caller.name, "scope": str(caller.scope),
            "origin": caller.origin, "action": action, "query": body,
        }, separators=(",", ":"), ensure_ascii=False, default=str) + "\n"
        day = self.directory / now.strftime("%Y-%m-%d")
        try:
            with self._lock:
                day.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(day / f"{self._writer}.jsonl",
                             os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
        except OSError as exc:
            raise AuditError(f"audit log {day}: cannot write ({exc.strerror or exc}); "
                             f"query refused") from exc
        return True

    def lines(self, day: str | None = None) -> list[dict[str, Any]]:
        """Every line logged on ``day`` (YYYY-MM-DD; default: today, UTC) by any writer,
        in time order."""
        day = day or datetime.now(UTC).strftime("%Y-%m-%d")
        out = []
        for path in sorted((self.directory / day).glob("*.jsonl")):
            out += [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return sorted(out, key=lambda x: str(x["time"]))
