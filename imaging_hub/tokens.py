"""API tokens: issued by operators (``ihub token create``), checked by the API.

A token is ``ihub_`` followed by 43 URL-safe base64 characters (32 random bytes from
``secrets``). It is shown once, at creation; what is kept is its SHA-256 digest, one JSON
file per token under ``$IHUB_HOME/tokens/`` (folder 0700, files 0600)::

    tokens/<name>.json      {"name", "scope", "sha256", "created_at", "revoked_at"}
    tokens/used/<name>      when the token was last used (ISO time; updated at most
                            once a minute per process)

A fast unsalted hash is enough: a 256-bit random token cannot be guessed, so there is no
dictionary to slow down. Digests are compared with ``hmac.compare_digest``.

The API reads the files once and again whenever the folder changes, and re-reads a
token's own file before accepting it, so ``ihub token revoke`` takes effect on the next
request of a running server (on a shared NFS volume: once the client's attribute cache
expires, typically within 60 s).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from imaging_hub.access import Scope, parse_scope
from imaging_hub.errors import InvalidToken, TokenError

PREFIX = "ihub_"
TOKEN_RE = re.compile(r"ihub_[A-Za-z0-9_-]{43}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TOUCH_EVERY_S = 60.0
log = logging.getLogger(__name__)


class TokenRecord(BaseModel):
    """What is stored about a token (never the token itself)."""

    name: str
    scope: str
    sha256: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class TokenInfo:
    """A token as ``ihub token list`` shows it."""

    record: TokenRecord
    last_used: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """A token name usable as a file name. Raises ``TokenError`` naming the problem."""
    if not NAME_RE.fullmatch(name):
        raise TokenError(f"token name {name!r}: 1-64 letters, digits, '.', '_' or '-', "
                         f"starting with a letter or digit")
    return name


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class TokenStore:
    """The tokens under one folder. Thread-safe; several processes may share the folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._stamp: int | None = None  # folder mtime (ns) the cache was read at
        self._records: dict[str, tuple[TokenRecord, int, int]] = {}  # name -> rec, ino, mtime
        self._touched: dict[str, float] = {}

    # -- operators ------------------------------------------------------------------------
    def create(self, name: str, scope: Scope) -> str:
        """Issue a token; returns it (the only time it exists in clear). A revoked token's
        name may be reused. Raises ``TokenError`` when ``name`` holds an active token."""
        check_name(name)
        self._ensure_dirs()
        current = self._read(self._path(name))
        if current is not None and current.revoked_at is None:
            raise TokenError(f"token {name!r} exists; revoke it first ('ihub token revoke "
                             f"{name}') or choose another name")
        token = PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(name=name, scope=str(scope), sha256=digest(token),
                             created_at=datetime.now(UTC))
        _write_private(self._path(name), record.model_dump_json(indent=2) + "\n")
        (self.directory / "used" / name).unlink(missing_ok=True)
        return token

    def revoke(self, name: str) -> TokenRecord:
        """Mark a token revoked (its record stays, for the audit trail). Raises
        ``TokenError`` when there is no such active token."""
        check_name(name)
        record = self._read(self._path(name))
        if record is None:
            raise TokenError(f"no token named {name!r}")
        if record.revoked_at is not None:
            raise TokenError(f"token {name!r} was already revoked at "
                             f"{record.revoked_at.isoformat()}")
        record = record.model_copy(update={"revoked_at": datetime.now(UTC)})
        _write_private(self._path(name), record.model_dump_json(indent=2) + "\n")
        return record

    def list(self) -> list[TokenInfo]:
        """Every token record (active and revoked), by name."""
        out = []
        for path in sorted(self.directory.glob("*.json")):
            record = self._read(path)
            if record is not None:
                out.append(TokenInfo(record, self._last_used(record.name)))
        return out

    # -- the API ----------------------------------------------------------------------------
    def verify(self, token: str) -> tuple[TokenRecord, Scope]:
        """The record and scope of an active token. Raises ``InvalidToken`` saying whether
        it is malformed, unknown or revoked (never echoing the token)."""
        if not TOKEN_RE.fullmatch(token):
            raise InvalidToken("malformed token: expected 'ihub_' and 43 characters")
        wanted = digest(token)
        found = None
        with self._lock:
            self._refresh()
            for record, _, _ in self._records.values():  # every digest compared: no early out
                if hmac.compare_digest(record.sha256, wanted):
                    found = record
            if found is not None:
                found = self._recheck(found.name)
        if found is None or not hmac.compare_digest(found.sha256, wanted):
            raise InvalidToken("unknown token")
        if found.revoked_at is not None:
            raise InvalidToken("token revoked")
        self._touch(found.name)
        return found, parse_scope(found.scope)

    # -- files ------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.json"

    def _ensure_dirs(self) -> None:
        for d in (self.directory, self.directory / "used"):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(d, 0o700)

    @staticmethod
    def _read(path: Path) -> TokenRecord | None:
        try:
            return TokenRecord.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError, ValueError) as exc:
            raise TokenError(f"{path}: unreadable token record: {exc}") from exc

    def _refresh(self) -> None:
        """Re-read every record when the folder changed (a token created or revoked)."""
        try:
            stamp = os.stat(self.directory).st_mtime_ns
        except FileNotFoundError:
            self._records, self._stamp = {}, None
            return
        if stamp == self._stamp:
            return
        records = {}
        for path in self.directory.glob("*.json"):
            try:
                st = path.stat()
            except FileNotFoundError:  # removed meanwhile
                continue
            record = self._readable(path)
            if record is not None:
                records[record.name] = (record, st.st_ino, st.st_mtime_ns)
        self._records, self._stamp = records, stamp

    def _recheck(self, name: str) -> TokenRecord | None:
        """The token's record as its file holds it now (revocations by another process
        replace the file, which a folder mtime of coarse resolution could hide)."""
        path = self._path(name)
        try:
            st = path.stat()
        except FileNotFoundError:
            self._records.pop(name, None)
            return None
        cached = self._records.get(name)
        if cached and (cached[1], cached[2]) == (st.st_ino, st.st_mtime_ns):
            return cached[0]
        record = self._readable(path)
        if record is not None:
            self._records[name] = (record, st.st_ino, st.st_mtime_ns)
        return record

    def _readable(self, path: Path) -> TokenRecord | None:
        """A record, or None when its file is unreadable: that token is refused (401)
        while the others keep working; ``ihub token list`` reports the file."""
        try:
            return self._read(path)
        except TokenError as exc:
            log.warning("%s; that token is refused", exc)
            return None

    def _touch(self, name: str) -> None:
        """Record when ``name`` was last used (at most once a minute per process; a
        failure to record it never fails the request)."""
        now = time.monotonic()
        if now - self._touched.get(name, -TOUCH_EVERY_S) < TOUCH_EVERY_S:
            return
        self._touched[name] = now
        try:
            used = self.directory / "used"
            used.mkdir(exist_ok=True, mode=0o700)
            _write_private(used / name, datetime.now(UTC).isoformat() + "\n")
        except OSError:
            pass  # last-used is informational; the request itself is fine

    def _last_used(self, name: str) -> datetime | None:
        try:
            return datetime.fromisoformat((self.directory / "used" / name).read_text().strip())
        except (OSError, ValueError):
            return None

