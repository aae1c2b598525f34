"""Who is calling the HTTP API: the ``Authorization: Bearer <token>`` header, resolved to a
``Caller`` by a FastAPI dependency (``Who``) that every ``/api/v1`` endpoint takes.

No header: an anonymous caller (open scope). A header that is not ``Bearer <token>``, an
empty, malformed, unknown or revoked token: ``InvalidToken``, which the API answers with
401, ``WWW-Authenticate: Bearer`` and a JSON ``ErrorBody`` (``invalid_token``). The
dependency runs before the body is validated, so a bad token learns nothing else.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from imaging_hub.access import Caller, anonymous
from imaging_hub.errors import InvalidToken
from imaging_hub.tokens import TokenStore

# declared for /openapi.json and the /docs "Authorize" button; the header is read below,
# because HTTPBearer(auto_error=False) treats a malformed header like a missing one
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description=(
    "A token from 'ihub token create'. Without it the caller has the open scope."))
Declared = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


def www_authenticate(exc: InvalidToken) -> str:
    """The ``WWW-Authenticate`` value for a rejected token (RFC 6750 section 3)."""
    detail = str(exc).replace('"', "'").replace("\\", "/")
    return f'Bearer realm="imaging-hub", error="invalid_token", error_description="{detail}"'


def current_caller(request: Request, _: Declared) -> Caller:
    """The request's caller, checked against the app's token store
    (``app.state.tokens``). Raises ``InvalidToken``."""
    origin = request.client.host if request.client else None
    headers = request.headers.getlist("authorization")
    if not headers:
        return anonymous(origin)
    if len(headers) > 1:
        raise InvalidToken("more than one Authorization header")
    scheme, _sep, token = headers[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise InvalidToken("Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if not token:
        raise InvalidToken("empty bearer token")
    tokens: TokenStore = request.app.state.tokens
    record, scope = tokens.verify(token)
    return Caller(record.name, scope, origin)


Who = Annotated[Caller, Depends(current_caller)]
