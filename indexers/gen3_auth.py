"""Gen3 authentication: the API key a user downloads from a commons' profile page,
exchanged at fence for short-lived access tokens.

* The key file is JSON ``{"api_key": "<JWT>", "key_id": "<jti>"}`` (fence
  ``POST /user/credentials/api`` returns exactly these two keys). The key is itself a JWT
  whose ``iss`` names the commons (``https://data.midrc.org/user``) and whose ``exp`` is
  when it stops working (fence's ``MAX_API_KEY_TTL`` default is 30 days).
* ``POST /user/credentials/api/access_token`` with body ``{"api_key": ...}`` answers
  ``{"access_token": "<JWT>"}`` (fence serves the same resource at ``/cdis/access_token``,
  which gen3sdk-python calls; fence marks ``/cdis`` deprecated, so we call ``/api`` and fall
  back to ``/cdis`` on a 404). Access tokens live at most ``MAX_ACCESS_TOKEN_TTL`` (3600 s by
  default); a bad or expired key is a 401, a key expiring within the token's lifetime a 400.
* Tokens are refreshed before they expire (read from the token's own ``exp``, a margin
  ahead, as gen3sdk-python does with 300 s) and once more when a request is refused as
  unauthenticated: HTTP 401 (fence, MDS, indexd, Guppy ``/download``), or Guppy GraphQL's
  HTTP 500 "Context creation failed" that Apollo answers when arborist rejects the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from imaging_hub.errors import ConfigError, SourceUnavailable
from imaging_hub.indexers.http import HttpSettings, send

TOKEN_PATHS = ("user/credentials/api/access_token", "user/credentials/cdis/access_token")
REFRESH_MARGIN_S = 300.0


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT: we only read ``iss`` and ``exp``; the commons
    verifies signatures. Raises ``ValueError`` when ``token`` is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT (expected three dot-separated parts)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"JWT payload is not base64url JSON ({exc})") from exc
    if not isinstance(claims, dict):
        raise ValueError("JWT payload is not a JSON object")
    return claims


@dataclass(frozen=True)
class ApiKey:
    """A commons API key, as downloaded from its profile page."""

    api_key: str
    key_id: str | None
    issuer: str
    expires: float | None  # epoch seconds

    @classmethod
    def load(cls, path: Path) -> ApiKey:
        """Read the key file. Raises ``ConfigError`` naming ``path`` when it is missing,
        not JSON, or not a Gen3 API key."""
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the Gen3 API key file: {exc}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: the Gen3 API key file is not JSON ({exc})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
            raise ConfigError(f"{path}: not a Gen3 API key file (expected a JSON object "
                              f'{{"api_key": ..., "key_id": ...}} from the profile page)')
        try:
            claims = jwt_claims(data["api_key"])
        except ValueError as exc:
            raise ConfigError(f"{path}: api_key is {exc}") from exc
        exp = claims.get("exp")
        return cls(api_key=data["api_key"], key_id=data.get("key_id"),
                   issuer=str(claims.get("iss", "")),
                   expires=float(exp) if isinstance(exp, int | float) else None)

    def check_commons(self, url: str, path: Path, now: float | None = None) -> None:
        """Raise ``ConfigError`` when the key belongs to another commons than ``url`` or
        has expired: both would otherwise surface as an opaque 401 mid-harvest."""
        issued_by, target = urlparse(self.issuer).hostname, urlparse(url).hostname
        if issued_by and target and issued_by != target:
            raise ConfigError(f"{path}: this API key was issued by {issued_by}, not by "
                              f"{target} (download a key from {target}'s profile page)")
        if self.expires is not None and self.expires <= (now or time.time()):
            when = datetime.fromtimestamp(self.expires, UTC).isoformat(timespec="minutes")
            raise ConfigError(f"{path}: this API key expired on {when}; download a new "
                              f"one from the commons' profile page")


def _auth_refused(response: httpx.Response) -> bool:
    """Whether the commons refused the request's token (so a fresh token may succeed)."""
    if response.status_code == 401:
        return True
    # Guppy's GraphQL endpoint builds its auth context before running a query; when arborist
    # rejects the token that throws, and Apollo answers 500 "Context creation failed: ...".
    return response.status_code == 500 and b"Context creation failed" in response.content


class FenceAuth(httpx.Auth):
    """``Authorization: bearer <access token>`` on every request, the token exchanged at
    fence for the API key, refreshed ``margin`` seconds before it expires and once when a
    request is refused as unauthenticated. Thread-safe (one lock around refreshes)."""

    requires_response_body = True

    def __init__(self, key: ApiKey, fence: httpx.Client, settings: HttpSettings,
                 margin: float = REFRESH_MARGIN_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.key, self.fence, self.settings = key, fence, settings
        self.margin, self.clock = margin, clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.refreshes = 0  # tokens obtained (observable in tests and reports)

    def token(self, stale: str | None = None) -> str:
        """A valid access token; a new one when ours is near expiry or equals ``stale``
        (the token a refused request carried)."""
        with self._lock:
            if (self._token is None or self._token == stale
                    or self.clock() + self.margin >= self._expires):
                self._token, self._expires = self._exchange()
                self.refreshes += 1
            return self._token

    def _exchange(self) -> tuple[str, float]:
        """One API key -> access token exchange. Raises ``SourceUnavailable`` with fence's
        reason when the key is refused, ``SourceUnavailable`` when fence is unreachable."""
        response = None
        for path in TOKEN_PATHS:
            response = send(self.fence, "POST", path, body={"api_key": self.key.api_key},
                            settings=self.settings)
            if response.status_code != 404:
                break
        assert response is not None
        where = f"fence {response.request.url}"
        if response.status_code in (400, 401, 403):
            raise SourceUnavailable(
                f"{where} refused the API key (HTTP {response.status_code}: "
                f"{_reason(response)}); download a new key from the commons' profile page")
        if response.status_code != 200:
            raise SourceUnavailable(f"{where} answered HTTP {response.status_code}: "
                                    f"{_reason(response)}")
        try:
            token = response.json()["access_token"]
            exp = jwt_claims(token).get("exp")
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceUnavailable(f"{where}: no access token in its answer ({exc})") from exc
        lifetime_end = float(exp) if isinstance(exp, int | float) else self.clock() + 600
        return token, lifetime_end

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                             None]:
        token = self.token()
        request.headers["Authorization"] = f"bearer {token}"
        response = yield request
        if _auth_refused(response):
            request.headers["Authorization"] = f"bearer {self.token(stale=token)}"
            yield request


def _reason(response: httpx.Response) -> str:
    """A short reason from an error answer: fence renders an HTML page, Guppy plain text,
    FastAPI services ``{"detail": ...}``."""
    text = response.text.strip()
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("detail", "message", "error", "errors"):
            if key in data:
                return str(data[key])[:200]
    return " ".join(text.split())[:200] or "no reason given"
