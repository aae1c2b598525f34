"""How ``ihub search`` and ``ihub count`` print protected numbers and estimates.

    1,234        exact
    <10          suppressed: fewer than 10 restricted records, none visible
    1,234 + <10  the visible part exact, the restricted part suppressed
    ≈1,250       visible part plus a rounded restricted part (the JSON says the range)
    ≥1,234, –    instances or bytes whose restricted series are suppressed (their sum hidden)
"""

from __future__ import annotations

from imaging_hub.schemas.counts import (
    CountValue,
    Estimate,
    EstimatedAdditional,
    FacetBucket,
    RestrictedPart,
)

LEGEND = ("<k: fewer than k records you may count but not see; ≈: includes such records, "
          "rounded (see --json for the range)")


def number(value: CountValue | FacetBucket, scale: float = 1.0, digits: int = 0) -> str:
    """One protected number as text (``scale``/``digits``: e.g. bytes as GB)."""
    def fmt(n: int) -> str:
        return f"{n / scale:,.{digits}f}"

    part = value.restricted
    hidden_sum = part is not None and part.suppressed and part.high is None  # instances, bytes
    if value.count is None:
        return "–" if hidden_sum or not value.suppressed else f"<{value.threshold}"
    if part is None:
        return fmt(value.count)
    if part.suppressed:
        return f"≥{fmt(value.count)}" if hidden_sum else f"{fmt(value.count)} + <{part.threshold}"
    return f"≈{fmt(value.count)}"


def part_text(part: RestrictedPart) -> str:
    """A restricted part alone: "<10" or "20 to 29"."""
    if part.count is None:
        return f"<{part.threshold}"
    return f"{part.low:,} to {part.high:,}" if part.high is not None else f"≥{part.low:,}"


def protected(values: list[CountValue | FacetBucket]) -> bool:
    return any(v.restricted is not None or v.suppressed for v in values)


def estimate_text(e: Estimate | None) -> str:
    if e is None:
        return "not published"
    if e.estimate is None:
        return f"unknown, between {e.low:,} and {e.high:,}"
    if e.low == e.high:
        return f"{e.estimate:,}"
    return f"{e.estimate:,} (between {e.low:,} and {e.high:,})"


def estimate_lines(block: EstimatedAdditional) -> list[str]:
    """The estimated_additional block as lines: never part of the counts above it."""
    lines = [f"Estimated additional subjects (not counted; datasets known only by their "
             f"published facts): {estimate_text(block.subjects)}"]
    for d in block.datasets:
        lines.append(f"  {d.source}:{d.collection} ({d.name}): subjects "
                     f"{estimate_text(d.subjects)} — {d.method}")
    for name, why in block.not_estimated.items():
        lines.append(f"  {name}: not estimated — {why}")
    lines.append(f"  method: {block.method}")
    return lines
