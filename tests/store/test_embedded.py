"""Embedded-store internals: what happens on disk when a publish fails or a process dies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imaging_hub.errors import StoreError
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.store.arrowio import read_arrow, write_arrow
from imaging_hub.store.embedded import EmbeddedStore, layout
from tests.store import synthetic as syn


def test_failed_publish_keeps_previous_generation_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = EmbeddedStore(tmp_path / "index")
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]),
                  "test")
    before = store.generation().name
    calls = {"n": 0}
    from imaging_hub.store.embedded import publish as publish_module

    real = publish_module.write_arrow

    def fail_second(table, path):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real(table, path)

    monkeypatch.setattr(publish_module, "write_arrow", fail_second)
    with pytest.raises(StoreError, match="disk full"):
        store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P2", "2", "2.1")]),
                      "test")
    assert store.generation().name == before
    assert store.count(CohortQuery()).series.count == 1
    assert not list(store.index_dir.glob(".tmp-*"))


def test_crash_leftovers_are_collected(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "index")
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]),
                  "test")
    (store.index_dir / ".tmp-gen-crashed").mkdir()
    for i in range(3):
        store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1",
                                                      f"1.{i}")]), "test")
    gens = sorted(p.name for p in store.index_dir.glob("gen-*"))
    assert len(gens) == layout.KEEP_GENERATIONS
    assert layout.current_name(store.index_dir) in gens
    assert not list(store.index_dir.glob(".tmp-*"))


def test_a_generation_from_an_older_layout_is_refused_then_rebuilt(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "index")
    store.publish(syn.result("alpha", [syn.series("alpha", "lungs", "P1", "1.1", "1.1.1")]))
    gen = store.index_dir / layout.current_name(store.index_dir)  # type: ignore[operator]
    manifest = layout.read_manifest(gen)
    del manifest["layout"]  # as written before layouts were numbered
    (gen / layout.MANIFEST_FILE).write_text(json.dumps(manifest))
    table = read_arrow(gen / layout.SERIES_FILE)
    write_arrow(table.drop_columns(["extra"]), tmp_path / "old.arrow")  # a column added since
    (tmp_path / "old.arrow").replace(gen / layout.SERIES_FILE)
    with pytest.raises(StoreError, match="older imaging-hub.*ihub harvest"):
        EmbeddedStore(store.index_dir).count(CohortQuery())
    fresh = EmbeddedStore(store.index_dir)
    fresh.publish(syn.result("beta", [syn.series("beta", "lungs", "P9", "9.1", "9.1.1")]))
    assert fresh.count(CohortQuery()).series.count == 2  # alpha's records kept, read back
