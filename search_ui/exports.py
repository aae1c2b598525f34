"""Exports: every series of a query (or of a saved cohort), streamed in a manifest format,
with no row cap, read from one index generation.

``start_export`` opens the store's stream (``IndexStore.records``) with the caller's
record-by-record visibility (``caller.hits``: an export lists records one by one), so every
problem that can be known before the first byte (no index, a store that cannot answer) is
raised then, and the API answers it with a status. The body is then produced chunk by chunk:
each series gets the hosts the caller may see and their links (``search_ui.service``), the
format writes its lines (``search_ui.manifests``), and the collections and hosts met are
collected, so the end of the export can say how to cite them. ``bundle`` wraps the manifest
in a zip with ``CITATION.md`` and ``export.json``, for formats without room for citations.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imaging_hub.access import Caller, visible_hosts
from imaging_hub.errors import StoreError
from imaging_hub.schemas.manifests import Citation, ExportSummary, UsagePolicy, query_body
from imaging_hub.schemas.query import CohortQuery, SeriesHit
from imaging_hub.search_ui import manifests
from imaging_hub.search_ui.service import series_hit_links
from imaging_hub.store.streaming import SeriesStream

FLUSH_BYTES = 64 * 1024  # body chunks handed to the server


@dataclass
class Export:
    """One export: its stream, its format, and what it met on the way."""

    stream: SeriesStream
    format: manifests.Format
    caller: Caller
    query: CohortQuery
    bundle: bool = False
    cohort: str | None = None
    written: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    per_collection: Counter[tuple[str, str]] = field(default_factory=Counter)
    hosts_met: set[str] = field(default_factory=set)
    summary: ExportSummary | None = None

    @property
    def generation(self) -> str:
        return self.stream.generation

    @property
    def media_type(self) -> str:
        return "application/zip" if self.bundle else self.format.media_type

    @property
    def filename(self) -> str:
        stem = f"imaging-hub-{self.cohort or 'series'}-{self.generation}"
        return f"{stem}.zip" if self.bundle else f"{stem}.{self.format.extension}"

    def headers(self) -> dict[str, str]:
        return {"Content-Disposition": f'attachment; filename="{self.filename}"',
                "X-Index-Generation": self.generation,
                "X-Series-Matched": str(self.stream.total),
                "Cache-Control": "no-store"}

    def body(self) -> Iterator[bytes]:
        """The response body, in chunks of about ``FLUSH_BYTES``."""
        if self.bundle:
            yield from _zipped(self)
            return
        pending: list[str] = []
        size = 0
        for text in self.text():
            pending.append(text)
            size += len(text)
            if size >= FLUSH_BYTES:
                yield "".join(pending).encode()
                pending, size = [], 0
        if pending:
            yield "".join(pending).encode()

    def text(self) -> Iterator[str]:
        """The manifest as text: the format's beginning, each series' lines, its end."""
        hosts = {s.source: s for s in self.stream.index.sources}
        yield self.format.begin()
        try:
            with self.stream:
                for hit in self.stream:
                    hit = self._as_seen(hit, hosts)
                    lines, reason = self.format.entries(hit)
                    if reason is not None:
                        self.skipped[reason] += 1
                        continue
                    self.written += len(lines)
                    self.per_collection[(hit.source, hit.collection)] += 1
                    self.hosts_met.update(hit.hosts)
                    yield from lines
        except StoreError as exc:
            # the status is sent: say so in the file where the format allows, then break
            # the response off (an incomplete body is what clients can detect)
            yield self.format.error(f"export incomplete: {exc}")
            raise
        self.summary = self._summary()
        yield self.format.end(self.summary)

    def _as_seen(self, hit: SeriesHit, hosts: dict[str, manifests.SourceVersion]) -> SeriesHit:
        """The hit naming only hosts the caller may see, with their links."""
        kept = visible_hosts(hit, self.stream.index, self.caller)
        return kept.model_copy(update={"links": series_hit_links(kept, hosts)})

    def _summary(self) -> ExportSummary:
        records = self.stream.collections()
        citations = []
        for (source, collection), n in sorted(self.per_collection.items()):
            found = records.get((source, collection))
            citations.append(Citation(
                source=source, collection=collection, series=n,
                name=found.name if found else None,
                citation=found.citation if found else None,
                doi=list(found.doi) if found else []))
        hosts = {s.source: s for s in self.stream.index.sources}
        policies = sorted({(h, url) for h in self.hosts_met if h in hosts
                           and (url := manifests.usage_policy(hosts[h]))})
        return ExportSummary(
            generation=self.generation, exported_at=datetime.now(UTC).isoformat(),
            format=self.format.name, query=query_body(self.query), cohort=self.cohort,
            matched=self.stream.total, written=self.written, skipped=dict(self.skipped),
            citations=citations,
            usage_policies=[UsagePolicy(host=h, url=u) for h, u in policies])


def start_export(stream: SeriesStream, format_name: str, caller: Caller, query: CohortQuery,
                 bundle: bool = False, cohort: str | None = None) -> Export:
    """An export of ``stream`` (already opened with ``caller.hits``) in ``format_name``."""
    cls = manifests.FORMATS[format_name]
    fmt = cls({s.source: s for s in stream.index.sources}, stream.generation,
              json.dumps(query_body(query)))
    return Export(stream, fmt, caller, query, bundle, cohort)


def citation_markdown(summary: ExportSummary) -> str:
    """``CITATION.md`` of a bundle: what the export holds and how to cite it."""
    lines = ["# How to cite the data in this export", "",
             f"imaging-hub export of {summary.written} entries ({summary.matched} matching "
             f"series), index generation `{summary.generation}`, {summary.exported_at}.", ""]
    if summary.skipped:
        lines += ["Matching series the format could not list: " + ", ".join(
            f"{n} ({why})" for why, n in sorted(summary.skipped.items())) + ".", ""]
    lines += ["## Collections", ""]
    for c in summary.citations:
        dois = ", ".join(f"<https://doi.org/{d}>" for d in c.doi) or "no DOI recorded"
        text = c.citation or "no citation text recorded; cite the DOI."
        lines.append(f"* **{c.name or c.collection}** (`{c.source}` / `{c.collection}`, "
                     f"{c.series} series): {text} — {dois}")
    if summary.usage_policies:
        lines += ["", "## Data usage policies", ""]
        lines += [f"* {p.host}: <{p.url}> asks users of its data to cite it and link back."
                  for p in summary.usage_policies]
    return "\n".join(lines) + "\n"


class _Sink(io.RawIOBase):
    """A write-only, unseekable file collecting what zipfile writes."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    @property
    def pending(self) -> int:
        return sum(len(p) for p in self._parts)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _zipped(export: Export) -> Iterator[bytes]:
    """The bundle: the manifest, then CITATION.md and export.json (written once the
    manifest is complete, so they describe exactly what it holds)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        name = f"manifest.{export.format.extension}"
        with archive.open(name, "w", force_zip64=True) as member:
            for text in export.text():
                member.write(text.encode())
                if sink.pending >= FLUSH_BYTES:
                    yield sink.take()
        assert export.summary is not None
        archive.writestr("CITATION.md", citation_markdown(export.summary))
        archive.writestr("export.json", export.summary.model_dump_json(indent=2) + "\n")
    yield sink.take()
