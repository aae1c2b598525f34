"""A publisher's copy of what it published (``store/search_engine/local_copy.py``): a
republish reads it instead of the cluster and gives the same generation; a copy that does
not match the served generation is never used; a failed publish leaves no copy behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imaging_hub.errors import StoreError
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.schemas.records import SeriesRecord
from imaging_hub.store.search_engine import SearchEngineStore, publish
from imaging_hub.store.search_engine.local_copy import LocalCopies
from tests.store import synthetic as syn
from tests.store.backends import engine_settings

KIND = "opensearch"  # the copy is the engines' shared publish code; one engine suffices


def _second_harvest(first: list[SeriesRecord]) -> list[SeriesRecord]:
    """The first harvest with a tenth gone, a tenth changed and two new series."""
    out = [r for i, r in enumerate(first) if i % 10 != 3]
    out = [r.model_copy(update={"series_description": "changed"}) if i % 10 == 5 else r
           for i, r in enumerate(out)]
    return out + [syn.series("alpha", "lungs", "P900", "1.2.new", f"1.2.new.{i}")
                  for i in range(2)]


def _outcome(store: SearchEngineStore, report: Any) -> tuple[Any, ...]:
    with store.records(CohortQuery()) as stream:
        served = sorted((h.identifiers.series_uid, h.series_description) for h in stream)
    return (report.added, report.updated, report.unchanged, report.deleted, served)


def _published(request: pytest.FixtureRequest, folder: Path | None, seed: int, n: int,
               ) -> tuple[SearchEngineStore, list[SeriesRecord]]:
    """A store on a fresh prefix (copies in ``folder``) with ``n`` records of 'alpha'."""
    records = syn.random_records(seed=seed, n=n)["alpha"]
    store = SearchEngineStore(engine_settings(request, KIND), copies=folder)
    store.publish(syn.result("alpha", records, syn.COLLECTIONS))
    return store, records


def _no_read_back(*_: Any) -> Any:
    raise AssertionError("the served records were read back from the cluster")


def test_a_republish_reads_the_copy_and_publishes_what_reading_back_would(
        request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = syn.random_records(seed=5, n=120)["alpha"]
    with_copy = SearchEngineStore(engine_settings(request, KIND), copies=tmp_path)
    without = SearchEngineStore(engine_settings(request, KIND))
    for store in (with_copy, without):
        store.publish(syn.result("alpha", first, syn.COLLECTIONS))
    served = with_copy.generation_name()
    assert [p.name for p in (tmp_path / with_copy.prefix).iterdir()] == [f"{served}.parquet"]

    second = _second_harvest(first)
    read_back = without.publish(syn.result("alpha", second, syn.COLLECTIONS, run="run-2"))
    with monkeypatch.context() as m:
        m.setattr(publish, "read_series", _no_read_back)
        from_copy = with_copy.publish(syn.result("alpha", second, syn.COLLECTIONS,
                                                 run="run-2"))
    got, want = _outcome(with_copy, from_copy.report), _outcome(without, read_back.report)
    assert got == want
    assert got[:4] == (2, 11, 97, 12)
    served = with_copy.generation_name()
    assert [p.name for p in (tmp_path / with_copy.prefix).iterdir()] == [f"{served}.parquet"]


def test_a_copy_that_does_not_match_the_served_generation_is_not_used(
        request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, first = _published(request, tmp_path, seed=6, n=60)
    copy = tmp_path / store.prefix / f"{store.generation_name()}.parquet"
    calls: list[str] = []
    real = publish.read_series

    def counted(*args: Any) -> Any:
        calls.append(args[2])
        return real(*args)

    monkeypatch.setattr(publish, "read_series", counted)
    for damage in (b"not parquet", "data pages", None):
        if damage is None:  # a readable copy of another publish, one record short
            other = SearchEngineStore(engine_settings(request, KIND), copies=tmp_path / "x")
            other.publish(syn.result("alpha", first[1:], syn.COLLECTIONS))
            copy.write_bytes(next((tmp_path / "x" / other.prefix).iterdir()).read_bytes())
        elif damage == "data pages":  # the footer intact, the pages before it overwritten
            raw = bytearray(copy.read_bytes())
            footer = int.from_bytes(raw[-8:-4], "little") + 8
            raw[4:len(raw) - footer] = bytes(len(raw) - footer - 4)
            copy.write_bytes(bytes(raw))
        else:
            copy.write_bytes(damage)
        served = store.generation_name()
        got = store.publish(syn.result("alpha", first, syn.COLLECTIONS, run="again"))
        assert calls[-1] == served  # read back from the cluster instead
        assert (got.report.added, got.report.deleted, got.report.unchanged) == (0, 0, 60)
        copy = tmp_path / store.prefix / f"{store.generation_name()}.parquet"


# the copy is written while the last index settles: a publish can fail after it is
# written, in the checks before the swap (_finish) or at the swap
@pytest.mark.parametrize("step", ["_finish", "_swap"])
def test_a_failed_publish_keeps_the_served_copy_and_leaves_nothing_else(
        request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        step: str) -> None:
    store, first = _published(request, tmp_path, seed=7, n=40)
    served = store.generation_name()
    written: list[Path | None] = []
    write = LocalCopies.write

    def recorded(copies: LocalCopies, *args: Any) -> Path | None:
        written.append(path := write(copies, *args))
        return path

    def refuse(*_: Any) -> None:
        assert written and written[-1] is not None and written[-1].exists()
        raise StoreError(f"{step} refused")

    monkeypatch.setattr(LocalCopies, "write", recorded)
    monkeypatch.setattr(publish, step, refuse)
    with pytest.raises(StoreError, match="refused"):
        store.publish(syn.result("alpha", first[:20], syn.COLLECTIONS, run="run-2"))
    assert store.generation_name() == served
    assert [p.name for p in (tmp_path / store.prefix).iterdir()] == [f"{served}.parquet"]


def test_a_copy_that_cannot_be_written_does_not_fail_the_publish(
        request: pytest.FixtureRequest, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the copies' folder would be")
    store, records = _published(request, blocked, seed=8, n=30)
    again = store.publish(syn.result("alpha", records, syn.COLLECTIONS, run="run-2"))
    assert (again.report.added, again.report.unchanged) == (0, 30)
    assert blocked.read_text().startswith("a file")
