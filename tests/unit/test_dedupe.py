"""``dedupe.first_copies``: the first row of each record id is kept, in order, across the
batches it walks; each later row is a reject with its series UID."""

from __future__ import annotations

import pytest

from imaging_hub.indexers import dedupe
from imaging_hub.indexers.base import Tally, spill_records
from tests.store.synthetic import series


@pytest.mark.parametrize(("uids", "kept_rows"), [
    ("abacdbeafghc", [0, 1, 3, 4, 6, 8, 9, 10]),
    # the dropped rows' numbers arrive 3 at a time too: the rows of the second batch of
    # records (3..5) are named by two batches of them
    ("aaaaabcad", [0, 5, 6, 8])])
def test_later_copies_are_dropped_across_batches(monkeypatch: pytest.MonkeyPatch, uids: str,
                                                 kept_rows: list[int]) -> None:
    monkeypatch.setattr(dedupe, "RECORD_BATCH", 3)  # rows 0..2, 3..5, ... per batch
    records = [series("x", "coll", "p", "s", uid, instances=i + 1)
               for i, uid in enumerate(uids)]
    tally = Tally.new()
    kept = dedupe.first_copies(spill_records(records), tally)
    assert kept.column("series_uid").to_pylist() == [uids[i] for i in kept_rows]
    assert sorted(set(uids)) == sorted(kept.column("series_uid").to_pylist())
    # each kept row is the first copy (instances numbers the rows from 1)
    assert kept.column("instances").to_pylist() == [i + 1 for i in kept_rows]
    dropped = [uids[i] for i in range(len(uids)) if i not in kept_rows]
    assert tally.rejected == {"duplicate_series_uid": len(dropped)}
    assert [s.key for s in tally.samples] == dropped
    assert kept.schema == spill_records(records[:1]).schema


def test_a_table_without_repeats_is_returned_as_it_is() -> None:
    table = spill_records([series("x", "coll", "p", "s", uid) for uid in "abc"])
    tally = Tally.new()
    assert dedupe.first_copies(table, tally) is table
    assert tally.rejected == {}
