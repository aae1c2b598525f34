"""Paging tokens ('next'), the same for every backend: opaque, bound to the index generation
and to the query (text, filters, sort, level), so a token is never applied to another
question or to a replaced index."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from imaging_hub.errors import StaleCursorError
from imaging_hub.schemas.query import SearchRequest


def fingerprint(req: SearchRequest) -> str:
    body = req.model_dump_json(include={"text", "filters", "where", "sort", "level"})
    return hashlib.sha1(body.encode()).hexdigest()[:12]


def encode(gen: str, fp: str, position: Any) -> str:
    """A token for ``position`` (any JSON value: an offset, a search_after key)."""
    raw = json.dumps({"g": gen, "q": fp, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str | None, gen: str, fp: str) -> Any:
    """The position a token points at (None without a token). Raises ``StaleCursorError``
    when it is from another generation, ``ValueError`` when it is malformed or from another
    query."""
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        g, q, p = data["g"], data["q"], data["p"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("page.after is not a token this API issued") from exc
    if q != fp:
        raise ValueError(
            "page.after belongs to a different query (text/filters/where/sort/level)")
    if g != gen:
        raise StaleCursorError(
            f"page.after was issued by index generation {g}; now serving {gen}. Start again.")
    return p


def encode_offset(gen: str, fp: str, offset: int) -> str:
    return encode(gen, fp, offset)


def decode_offset(token: str | None, gen: str, fp: str) -> int:
    """An offset token's position (0 without a token). Raises like ``decode``."""
    p = decode(token, gen, fp)
    if p is None:
        return 0
    if not isinstance(p, int) or isinstance(p, bool) or p < 0:
        raise ValueError("page.after is not a token this API issued")
    return p
