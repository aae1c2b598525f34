"""Command-line filter syntax: ``FIELD=V1,V2`` (values OR) or ``FIELD=LO..HI`` (range)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imaging_hub.schemas.fields import FIELDS


def parse_filters(items: list[str]) -> dict[str, Any]:
    """``["modality=CT,MR", "age=60.."]`` → ``{"modality": ["CT", "MR"], "age": {"gte": 60}}``.

    Raises ``ValueError`` naming the item that cannot be read.
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"filter {item!r} is not FIELD=VALUE")
        spec = FIELDS.get(name)
        if spec is not None and spec.kind == "range" and ".." in value:
            lo, _, hi = value.partition("..")
            try:
                rng = {k: float(v) for k, v in (("gte", lo), ("lte", hi)) if v.strip()}
            except ValueError:
                raise ValueError(f"filter {item!r}: range bounds must be numbers") from None
            out[name] = rng
            continue
        values: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        if spec is not None and spec.kind == "range":
            try:
                values = [float(v) for v in values]
            except ValueError:
                raise ValueError(f"filter {item!r}: values must be numbers") from None
        out.setdefault(name, [])
        if isinstance(out[name], list):
            out[name].extend(values)
    return out


def guppy_filters(text: str, native: list[str] | None) -> dict[str, Any]:
    """``--guppy``: Gen3 Guppy filter JSON, inline or ``@FILE``, for the request's
    ``filters`` key (read by ``schemas.guppy``). Raises ``ValueError`` when it is not a JSON
    object or comes with ``--filter``."""
    if native:
        raise ValueError("give --guppy or --filter, not both (a Guppy filter can say both)")
    if text.startswith("@"):
        try:
            text = Path(text[1:]).expanduser().read_text()
        except OSError as exc:
            raise ValueError(f"--guppy {text}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--guppy: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("--guppy: expected a JSON object such as {\"AND\": [...]}")
    return data
