"""The one place HTTP clients for sources are built: base URL, auth, explicit timeouts,
retries with backoff on 429/5xx and transport errors (``Retry-After`` honoured), and
``raise_for_status()``. Nothing here returns ``[]`` on an error: failures raise
``SourceUnavailable`` / ``SourceFormatError`` and the harvest stops without publishing.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, TypeVar

import httpx
import ijson
from pydantic import BaseModel, ConfigDict, model_validator
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from imaging_hub.errors import ConfigError, SourceFormatError, SourceUnavailable

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
DOWNLOAD_CHUNK = 1 << 16  # bytes read from a streamed answer at a time


def secret(value: str | None, env: str | None) -> str:
    """A source secret: given inline, or read now from the environment variable ``env``
    (at harvest time, never at import). Raises ``ConfigError`` when neither is set."""
    if value:
        return value
    found = os.environ.get(env or "")
    if not found:
        raise ConfigError(f"environment variable {env} (a source secret) is not set")
    return found


class AuthConfig(BaseModel):
    """HTTP authentication of a source: none, basic (username + password) or bearer."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "basic", "bearer"] = "none"
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    token: str | None = None
    token_env: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.type == "basic" and not (self.username and (self.password or self.password_env)):
            raise ValueError("basic auth needs username and password or password_env")
        if self.type == "bearer" and not (self.token or self.token_env):
            raise ValueError("bearer auth needs token or token_env")
        return self

    def build(self) -> tuple[httpx.Auth | None, dict[str, str]]:
        """(httpx auth, extra headers); raises ``ConfigError`` for a missing env secret."""
        if self.type == "basic":
            return httpx.BasicAuth(self.username or "", secret(
                self.password, self.password_env)), {}
        if self.type == "bearer":
            return None, {"Authorization": f"Bearer {secret(self.token, self.token_env)}"}
        return None, {}


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


class RetryableError(Exception):
    """A failure worth another attempt (429/5xx, timeouts, a cut body). Raised inside a
    request (also by an ``httpx.Auth`` flow whose token endpoint is busy); ``get_json`` and
    ``get_text`` retry it and turn the last one into ``SourceUnavailable``."""

    def __init__(self, message: str, retry_after: float | None = None,
                 malformed: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.malformed = malformed


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta or HTTP date), or None."""
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
        hinted = exc.retry_after if isinstance(exc, RetryableError) else None
        computed = settings.backoff_base * 2 ** (state.attempt_number - 1)
        return min(settings.backoff_max, hinted if hinted is not None else computed)
    return wait


T = TypeVar("T")


def _attempt(client: httpx.Client, method: str, path: str, params: dict[str, Any] | None,
             body: Any, accept: str) -> httpx.Response:
    """One request (``body`` sent as JSON); a transport error or a retryable status raises
    ``RetryableError``."""
    try:
        response = client.request(method, path, params=params, json=body,
                                  headers={"Accept": accept})
    except httpx.TransportError as exc:  # connect/read timeouts, resets
        raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
    if response.status_code in RETRY_STATUS:
        raise RetryableError(f"HTTP {response.status_code}", retry_after(response))
    return response


def _retrying(s: HttpSettings) -> Retrying:
    return Retrying(stop=stop_after_attempt(s.max_attempts), wait=_wait(s),
                    retry=retry_if_exception(lambda e: isinstance(e, RetryableError)),
                    reraise=True)


def _request(client: httpx.Client, method: str, path: str, params: dict[str, Any] | None,
             body: Any, settings: HttpSettings | None, accept: str,
             decode: Callable[[httpx.Response], T]) -> T:
    """A request with retries; ``decode`` turns a 2xx response into the result (it raises
    ``RetryableError(malformed=True)`` for a body it cannot read)."""
    s = settings or HttpSettings()

    def attempt() -> T:
        response = _attempt(client, method, path, params, body, accept)
        _refuse(response)
        return decode(response)

    return _with_retries(client, method, path, s, attempt)


def _refuse(response: httpx.Response) -> None:
    """``SourceUnavailable`` for an error status no retry will change (4xx but 429)."""
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise SourceUnavailable(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:200]}") from exc


def _with_retries(client: httpx.Client, method: str, path: str, s: HttpSettings,
                  attempt: Callable[[], T]) -> T:
    """``attempt`` retried on ``RetryableError``; the last one becomes ``SourceFormatError``
    (a body that could not be read) or ``SourceUnavailable``."""
    try:
        return _retrying(s)(attempt)
    except RetryableError as exc:
        url = client.base_url.join(path)
        message = f"{method} {url}: {exc} after {s.max_attempts} attempts"
        if exc.malformed:
            raise SourceFormatError(message) from exc
        raise SourceUnavailable(message) from exc


def _get(client: httpx.Client, path: str, params: dict[str, Any] | None,
         settings: HttpSettings | None, accept: str,
         decode: Callable[[httpx.Response], T]) -> T:
    return _request(client, "GET", path, params, None, settings, accept, decode)


def _json(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RetryableError(f"body is not JSON ({exc})", malformed=True) from exc


def _text(response: httpx.Response) -> str | None:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return response.content.decode(response.encoding or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise RetryableError(f"body is not text ({exc})", malformed=True) from exc


def get_json(client: httpx.Client, path: str, params: dict[str, Any] | None = None,
             settings: HttpSettings | None = None, accept: str = "application/json") -> Any:
    """GET ``path`` and decode JSON, retrying 429/5xx, timeouts and truncated bodies.

    Raises ``SourceUnavailable`` when attempts are exhausted or the server answers another
    error status, ``SourceFormatError`` when the body is not JSON even after retrying.
    An empty body (HTTP 204, or 200 with nothing) is ``None``.
    """
    return _get(client, path, params, settings, accept, _json)


def get_text(client: httpx.Client, path: str, params: dict[str, Any] | None = None,
             settings: HttpSettings | None = None, accept: str = "text/plain") -> str | None:
    """GET ``path`` as text, with the same retries and errors as ``get_json``; an empty
    body is ``None``."""
    return _get(client, path, params, settings, accept, _text)


def request_json(client: httpx.Client, method: str, path: str, *,
                 params: dict[str, Any] | None = None, body: Any = None,
                 settings: HttpSettings | None = None,
                 accept: str = "application/json") -> Any:
    """``method path`` with ``body`` sent as JSON (a POST to a query API), decoded like
    ``get_json`` and with the same retries and errors."""
    return _request(client, method, path, params, body, settings, accept, _json)


def send(client: httpx.Client, method: str, path: str, *,
         params: dict[str, Any] | None = None, body: Any = None,
         settings: HttpSettings | None = None,
         accept: str = "application/json") -> httpx.Response:
    """``method path`` (``body`` sent as JSON), retrying 429/5xx and transport errors; the
    final response is returned whatever its status, for callers that read 4xx answers
    themselves (an auth server's refusal, a GraphQL validation error). Raises
    ``SourceUnavailable`` when attempts are exhausted."""
    s = settings or HttpSettings()
    try:
        return _retrying(s)(_attempt, client, method, path, params, body, accept)
    except RetryableError as exc:
        url = client.base_url.join(path)
        raise SourceUnavailable(
            f"{method} {url}: {exc} after {s.max_attempts} attempts") from exc


def download(client: httpx.Client, method: str, path: str, into: BinaryIO, *,
             body: Any = None, settings: HttpSettings | None = None,
             accept: str = "application/json") -> int:
    """``method path`` (``body`` sent as JSON) with the answer's body written to ``into``
    as it arrives, for answers too large to hold (a whole index in one JSON array). The
    retries and errors of ``request_json``: each attempt starts ``into`` over, so a body cut
    by the connection is fetched again, not kept. The number of bytes written."""
    s = settings or HttpSettings()

    def attempt() -> int:
        into.seek(0)
        into.truncate()
        try:
            with client.stream(method, path, json=body, headers={"Accept": accept}) as response:
                if response.status_code in RETRY_STATUS:
                    raise RetryableError(f"HTTP {response.status_code}", retry_after(response))
                if response.is_error:
                    response.read()
                    _refuse(response)
                written = 0
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    into.write(chunk)
                    written += len(chunk)
                return written
        except httpx.TransportError as exc:  # timeouts, resets, a body shorter than said
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

    return _with_retries(client, method, path, s, attempt)


def json_array_items(f: BinaryIO, what: str) -> Iterator[Any]:
    """The items of the JSON array in ``f``, parsed one at a time (memory holds one item,
    not the array). Raises ``SourceFormatError`` naming ``what`` when ``f`` holds no array,
    or when the JSON breaks off or is invalid at some item (the items before it have been
    yielded by then: the caller's run fails, nothing is published)."""
    head = f.read(DOWNLOAD_CHUNK).lstrip()
    if not head.startswith(b"["):
        raise SourceFormatError(f"{what}: expected a JSON array, got "
                                f"{head[:80].decode('utf-8', 'replace')!r}")
    f.seek(0)
    try:
        yield from ijson.items(f, "item", use_float=True)
    except ijson.JSONError as exc:
        raise SourceFormatError(f"{what}: the JSON array is invalid ({exc})") from exc
