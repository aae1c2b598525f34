"""A read of every matching series, pinned to one index generation: what exports and saved
cohorts stream (``IndexStore.records``).

A ``SeriesStream`` reads the generation that was served when it was opened, and only that
one: the embedded store keeps its loaded (memory-mapped) generation, the search engines a
point in time over that generation's series index. It yields each series once (a series held
by several sources is one hit listing its hosts, like a series hit of ``search``), in chunks
of ``CHUNK`` records, so memory stays bounded whatever the number of matches: it never holds
more than one chunk of records (``max_chunk`` says how many it held at most).

A stream is read once, then closed (``with store.records(...) as stream``); closing early
releases the point in time. Reading it raises ``StoreError`` when its generation can no
longer be read (a search engine keeps the served generation and the one before it: an export
outliving two more publishes stops with that error rather than mix generations).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType

from imaging_hub.schemas.query import IndexInfo, SeriesHit
from imaging_hub.schemas.records import CollectionRecord

CHUNK = 2000  # records held at once; a few MB of Python objects
UID_BATCH = 10_000  # series UIDs per membership query (engines allow 65,536 terms)


class SeriesStream(ABC):
    """Every series matching one query, from one generation, read in chunks."""

    generation: str
    index: IndexInfo
    total: int  # matching series (each once), known when the stream opens

    def __init__(self) -> None:
        self.max_chunk = 0  # the most records this stream has held at once
        self._closed = False

    def __iter__(self) -> Iterator[SeriesHit]:
        """The series hits (without links; ``hosts``: the sources holding each series among
        the records the stream's visibility allows), in index order (source, collection,
        study, series) or, for a stream restricted to series UIDs, in UID order."""
        try:
            for chunk in self._chunks():
                self.max_chunk = max(self.max_chunk, len(chunk))
                yield from chunk
        finally:
            self.close()

    def uids(self) -> Iterator[str]:
        """Only the SeriesInstanceUIDs of the matching series (cheaper than the hits), in
        no particular order."""
        try:
            for chunk in self._uid_chunks():
                self.max_chunk = max(self.max_chunk, len(chunk))
                yield from chunk
        finally:
            self.close()

    @abstractmethod
    def _chunks(self) -> Iterator[list[SeriesHit]]: ...

    @abstractmethod
    def _uid_chunks(self) -> Iterator[list[str]]: ...

    @abstractmethod
    def collections(self) -> dict[tuple[str, str], CollectionRecord]:
        """The generation's collection records by (source, collection id): what exports
        cite."""

    def close(self) -> None:
        """Release what the stream holds (idempotent)."""
        if not self._closed:
            self._closed = True
            self._release()

    def _release(self) -> None:  # noqa: B027 - optional hook
        """Backend resources to free on close (a point in time)."""

    def __enter__(self) -> SeriesStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
