"""Command-line filter syntax: ``FIELD=V1,V2`` (values OR) or ``FIELD=LO..HI`` (range)."""

from __future__ import annotations

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
