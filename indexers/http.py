"""The one place HTTP clients for sources are built: base URL, auth, explicit timeouts,
retries with backoff on 429/5xx and transport errors (``Retry-After`` honoured), and
``raise_for_status()``. Nothing here returns ``[]`` on an error: failures raise
``SourceUnavailable`` / ``SourceFormatError`` and the harvest stops without publishing.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from imaging_hub.errors import SourceFormatError, SourceUnavailable

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class HttpSettings:
    """Connection behaviour of one source."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    backoff_base: float = 0.5  # seconds; doubles each attempt
    backoff_max: float = 30.0  # cap for computed and Retry-After waits
    user_agent: str = "imaging-hub/0.1 (+metadata harvester)"


def build_client(base_url: str, auth: httpx.Auth | None = None,
                 headers: dict[str, str] | None = None,
                 settings: HttpSettings | None = None,
                 transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An ``httpx.Client`` with the source's base URL, auth and explicit timeouts."""
    s = settings or HttpSettings()
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/", auth=auth, transport=transport,
        headers={"User-Agent": s.user_agent, **(headers or {})},
        timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
        follow_redirects=True,
    )


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _wait(settings: HttpSettings) -> Any:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = exc.retry_after if isinstance(exc, _Retryable) else None
        computed = settings.backoff_base * 2 ** (state.attempt_number - 1)
        return min(settings.backoff_max, hinted if hinted is not None else computed)
    return wait


def get_json(client: httpx.Client, path: str, params: dict[str, Any] | None = None,
             settings: HttpSettings | None = None, accept: str = "application/json") -> Any:
    """GET ``path`` and decode JSON, retrying 429/5xx, timeouts and truncated bodies.

    Raises ``SourceUnavailable`` when attempts are exhausted or the server answers another
    error status, ``SourceFormatError`` when the body is not JSON even after retrying.
    An empty body (HTTP 204, or 200 with nothing) is ``None``.
    """
    return request_json(client, "GET", path, params=params, settings=settings, accept=accept)


def _attempt(client: httpx.Client, method: str, path: str, params: dict[str, Any] | None,
             body: Any, accept: str) -> httpx.Response:
    """One request; a transport error or a retryable status raises ``_Retryable``."""
    try:
        response = client.request(method, path, params=params, json=body,
                                  headers={"Accept": accept})
    except httpx.TransportError as exc:  # connect/read timeouts, resets
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code in RETRY_STATUS:
        raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
    return response


def _retrying(s: HttpSettings) -> Retrying:
    return Retrying(stop=stop_after_attempt(s.max_attempts), wait=_wait(s),
                    retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
                    reraise=True)


def send(client: httpx.Client, method: str, path: str, *,
         params: dict[str, Any] | None = None, body: Any = None,
         settings: HttpSettings | None = None,
         accept: str = "application/json") -> httpx.Response:
    """``method path`` (``body`` sent as JSON), retrying 429/5xx and transport errors; the
    final response is returned whatever its status, for callers that read 4xx answers
    themselves (an auth server's refusal). Raises ``SourceUnavailable`` when attempts are
    exhausted."""
    s = settings or HttpSettings()
    try:
        return _retrying(s)(_attempt, client, method, path, params, body, accept)
    except _Retryable as exc:
        url = client.base_url.join(path)
        raise SourceUnavailable(f"{method} {url}: {exc} after {s.max_attempts} attempts",
                                ) from exc


def request_json(client: httpx.Client, method: str, path: str, *,
                 params: dict[str, Any] | None = None, body: Any = None,
                 settings: HttpSettings | None = None,
                 accept: str = "application/json") -> Any:
    """``method path`` (``body`` sent as JSON) and decode the JSON answer, retrying 429/5xx,
    timeouts and truncated bodies. Raises ``SourceUnavailable`` when attempts are exhausted
    or the server answers another error status, ``SourceFormatError`` when the body is not
    JSON even after retrying. An empty body (HTTP 204, or 200 with nothing) is ``None``."""
    s = settings or HttpSettings()

    def attempt() -> Any:
        response = _attempt(client, method, path, params, body, accept)
        try:
            response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            raise SourceUnavailable(
                f"{response.request.method} {response.request.url} answered "
                f"{response.status_code}: {response.text[:200]}") from exc
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _Retryable(f"body is not JSON ({exc})") from exc

    try:
        return _retrying(s)(attempt)
    except _Retryable as exc:
        url = client.base_url.join(path)
        if "not JSON" in str(exc):
            raise SourceFormatError(
                f"{method} {url}: {exc} after {s.max_attempts} attempts") from exc
        raise SourceUnavailable(
            f"{method} {url}: {exc} after {s.max_attempts} attempts") from exc
