"""Saved cohorts: a named query and the series it selected, pinned to the index generation
it was read from, under ``$IHUB_HOME/cohorts/``.

    cohorts/<id>/cohort.json        name, query, generation, scope, created_at, members
    cohorts/<id>/members.gz         the members' SeriesInstanceUIDs, sorted, one per line
    cohorts/<id>/changes-<gen>.json what differs on generation <gen> (computed once)

Members are series (a series held by several hosts is one member), identified by their
SeriesInstanceUID, the counting identity of the index. A cohort is readable only by callers
with the scope it was saved with (the canonical scope string), and every read applies the
reader's visibility again; to anyone else it does not exist (404, worded like an unknown id).
Ids are 20 random base-32 characters (100 bits), so they cannot be guessed.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from imaging_hub.access import Caller
from imaging_hub.errors import CohortNotFound
from imaging_hub.iterate import chunked
from imaging_hub.schemas.manifests import CohortChanges, CohortInfo, MemberChange, query_body
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.store.base import IndexStore

ID_PATTERN = re.compile(r"^c[a-z2-7]{20}$")
SAMPLE = 20
UID_BATCH = 10_000  # members turned into bytes a batch at a time


class CohortMeta(BaseModel):
    id: str
    name: str
    created_at: str
    query: dict[str, Any]  # as the API takes it (schemas.manifests.query_body)
    generation: str
    scope: str
    saved_by: str | None
    members: int


def new_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "c" + "".join(secrets.choice(alphabet) for _ in range(20))


def sorted_uids(chunks: Iterable[list[str]]) -> np.ndarray:
    """Distinct UIDs, sorted, as a bytes array (compact: one fixed-width buffer)."""
    parts = [np.array([u.encode() for u in chunk], dtype=bytes) for chunk in chunks if chunk]
    if not parts:
        return np.zeros(0, dtype="S1")
    width = max(p.dtype.itemsize for p in parts)
    return np.unique(np.concatenate([p.astype(f"S{width}") for p in parts]))


def _change(uids: np.ndarray) -> MemberChange:
    return MemberChange(count=len(uids), sample=[u.decode() for u in uids[:SAMPLE].tolist()])


@dataclass
class Cohorts:
    """Saved cohorts under ``root`` over ``store``."""

    root: Path
    store: IndexStore

    def save(self, name: str, query: CohortQuery, caller: Caller) -> CohortInfo:
        """Read the query's members (``caller.hits``) from the generation served now and
        keep them. Raises the store's errors."""
        with self.store.records(query, caller.hits) as stream:
            members = sorted_uids(chunked(stream.uids(), UID_BATCH))
            generation = stream.generation
        meta = CohortMeta(id=new_id(), name=name, created_at=datetime.now(UTC).isoformat(),
                          query=query_body(query), generation=generation, scope=str(caller.scope),
                          saved_by=caller.name, members=len(members))
        self._write(meta, members)
        return self._info(meta, len(members), None)

    def _write(self, meta: CohortMeta, members: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.root / f".tmp-{meta.id}"
        tmp.mkdir(mode=0o700)
        try:
            with gzip.open(tmp / "members.gz", "wb") as fh:
                for start in range(0, len(members), 10_000):
                    fh.write(b"".join(u + b"\n" for u in members[start:start + 10_000]
                                      .tolist()))
            (tmp / "cohort.json").write_text(meta.model_dump_json(indent=2) + "\n")
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            os.rename(tmp, self.root / meta.id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def load(self, cohort_id: str, caller: Caller) -> tuple[CohortMeta, np.ndarray]:
        """A cohort the caller may read, with its members. Raises ``CohortNotFound``."""
        folder = self.root / cohort_id
        if not ID_PATTERN.match(cohort_id) or not (folder / "cohort.json").is_file():
            raise CohortNotFound(f"no cohort with id {cohort_id!r}")
        meta = CohortMeta.model_validate_json((folder / "cohort.json").read_text())
        if meta.scope != str(caller.scope):
            raise CohortNotFound(f"no cohort with id {cohort_id!r}")
        with gzip.open(folder / "members.gz", "rb") as fh:
            members = sorted_uids(chunked(
                (line.decode().rstrip("\n") for line in fh if line.strip()), UID_BATCH))
        return meta, members

    def info(self, cohort_id: str, caller: Caller) -> CohortInfo:
        """The cohort, and what changed since it was saved (on another generation).
        Raises ``CohortNotFound`` and the store's errors."""
        meta, members = self.load(cohort_id, caller)
        current = self.store.generation_name()
        if current == meta.generation:
            return self._info(meta, len(members), None)
        cached = self.root / cohort_id / f"changes-{current}.json"
        if cached.is_file():
            changes = CohortChanges.model_validate_json(cached.read_text())
        else:
            changes = self._changes(meta, members, caller)
            if changes.generation == current:  # not replaced while computing
                cached.write_text(changes.model_dump_json() + "\n")
        return self._info(meta, len(members) - changes.gone.count, changes)

    def _changes(self, meta: CohortMeta, members: np.ndarray, caller: Caller) -> CohortChanges:
        """The definition run now, and which members are still there (two streams of UIDs,
        each from one generation)."""
        query = CohortQuery.model_validate(meta.query)
        with self.store.records(query, caller.hits) as stream:
            now = sorted_uids(chunked(stream.uids(), UID_BATCH))
            generation = stream.generation
        present = self.members_present(members, caller)
        return CohortChanges(
            generation=generation, members_now=len(now),
            added=_change(np.setdiff1d(now, members, assume_unique=True)),
            removed=_change(np.setdiff1d(members, now, assume_unique=True)),
            gone=_change(np.setdiff1d(members, present, assume_unique=True)))

    def members_present(self, members: np.ndarray, caller: Caller) -> np.ndarray:
        uids = [u.decode() for u in members.tolist()]
        with self.store.records(CohortQuery(), caller.hits, series_uids=uids) as stream:
            return sorted_uids(chunked(stream.uids(), UID_BATCH))

    @staticmethod
    def _info(meta: CohortMeta, available: int, changes: CohortChanges | None) -> CohortInfo:
        return CohortInfo(id=meta.id, name=meta.name, created_at=meta.created_at,
                          query=meta.query, generation=meta.generation, scope=meta.scope,
                          members=meta.members, members_available=available,
                          changes=changes, export=f"/api/v1/cohorts/{meta.id}/export")
