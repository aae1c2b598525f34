"""Answers to repeated questions, kept per index generation.

A question (endpoint, request body, the caller's visibility) asked again while the same
generation is served gets the same bytes back without touching the store; when a publish
switches the generation, entries of the old one are never served again (the key holds the
generation) and age out. Bounded by entries and bytes (least recently used goes first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

MAX_ENTRIES = 4096
MAX_BYTES = 128 * 1024 * 1024


class AnswerCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[bytes, str]],
                       generation: str) -> bytes:
        """The cached answer of ``key`` under ``generation``, or ``compute()``'s (answer,
        generation it was computed on), kept under that generation."""
        with self._lock:
            found = self._items.get((generation, key))
            if found is not None:
                self._items.move_to_end((generation, key))
                self.hits += 1
                return found
            self.misses += 1
        body, answered_on = compute()
        if len(body) <= self.max_bytes // 16:
            self._put((answered_on, key), body)
        return body

    def _put(self, key: Hashable, body: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = body
            self._bytes += len(body)
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)
