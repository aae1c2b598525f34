"""A generation written before a field existed (e.g. before the harmonised vocabularies)
keeps answering, the field null, until the next publish rebuilds it with the field."""

from __future__ import annotations

import os
from pathlib import Path

from imaging_hub.schemas.query import CohortQuery
from imaging_hub.store.arrowio import read_arrow, write_arrow
from imaging_hub.store.embedded import EmbeddedStore, layout
from tests.store import synthetic as syn

CHEST = CohortQuery.model_validate({"filters": {"body_region": ["chest"]}})


def test_a_generation_without_the_harmonised_columns_answers_and_is_rebuilt(
        tmp_path: Path) -> None:
    records = [syn.series("alpha", "lungs", f"P{i}", f"1.{i}", f"1.{i}.1", body_part="Lung")
               for i in range(3)]
    store = EmbeddedStore(tmp_path / "index")
    store.publish(syn.result("alpha", records))
    assert store.count(CHEST).series.count == 3
    gen = tmp_path / "index" / store.generation().name
    old = read_arrow(gen / layout.SERIES_FILE)
    dropped = [n for n in ("body_region", "body_part_code", "race", "race_raw")
               if n in old.column_names]
    tmp = gen / "older.arrow"  # as an older version wrote it (never over a mapped file)
    write_arrow(old.drop_columns(dropped), tmp)
    os.replace(tmp, gen / layout.SERIES_FILE)

    reopened = EmbeddedStore(tmp_path / "index")
    assert reopened.count(CohortQuery()).series.count == 3  # still answers
    assert reopened.count(CHEST).series.count == 0  # the field is null there
    assert reopened.coverage().sources["alpha"].fields["body_region"] == 0

    reopened.publish(syn.result("beta", [syn.series("beta", "brains", "Q", "2.1", "2.1.1",
                                                    body_part="THORAX")]))
    # the next publish keeps alpha's records as they were read (no region) and adds beta's
    assert reopened.count(CHEST).series.count == 1
    assert reopened.count(CohortQuery()).series.count == 4
