"""Every BodyPartExamined value in idc-index-data is known to the vocabulary tables, and
the harmoniser gives the same answers over the whole column as value by value."""

from __future__ import annotations

import duckdb
import idc_index_data
import pyarrow as pa
import pytest

from imaging_hub.indexers import vocab
from imaging_hub.indexers.vocab.harmonise import RULES, _apply

PARQUET = str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH)


@pytest.fixture(scope="module")
def body_parts() -> pa.Table:
    """The BodyPartExamined of every IDC series, as the IDC indexer stores it."""
    con = duckdb.connect()
    try:
        return con.sql("SELECT nullif(upper(trim(BodyPartExamined)), '') AS body_part "
                       "FROM read_parquet($p)", params={"p": PARQUET}).to_arrow_table()
    finally:
        con.close()


def test_every_body_part_examined_in_idc_is_mapped(body_parts: pa.Table) -> None:
    v = vocab.load()
    distinct = [x for x in set(body_parts.column("body_part").to_pylist()) if x is not None]
    unknown = sorted(x for x in distinct if v.body_part(x) is None)
    assert not unknown, f"BodyPartExamined values the tables do not know: {unknown}"
    assert len(distinct) > 50  # the real index, not an empty column


def test_idc_body_part_coverage_figure(body_parts: pa.Table) -> None:
    """Harmonise the whole column (vectorised) and report the coverage figure."""
    v = vocab.load()
    rule = next(r for r in RULES if r.field == "body_part")
    (code, _meaning, region), unmapped = _apply(body_parts, rule, v)
    assert unmapped == []
    with_value = body_parts.column("body_part").is_valid()
    n = int(pa.compute.sum(with_value).as_py())
    coded = int(pa.compute.sum(code.is_valid()).as_py())
    grouped = int(pa.compute.sum(region.is_valid()).as_py())
    distinct = len(set(body_parts.column("body_part").drop_null().to_pylist()))
    print(f"\nIDC ({body_parts.num_rows:,} series): {distinct} distinct BodyPartExamined values, "
          f"all known; {n:,} series have one; body_part_code {coded:,} "
          f"({100 * coded / n:.3f} %), body_region {grouped:,} ({100 * grouped / n:.3f} %)")
    # the same answer value by value: vectorising changes nothing
    for raw, c, r in zip(body_parts.column("body_part").to_pylist()[:50_000],
                         code.to_pylist()[:50_000], region.to_pylist()[:50_000], strict=True):
        expected = v.body_part(raw) if raw else (None, None, None)
        assert expected is not None and (c, r) == (expected[0], expected[2])
    assert coded <= n and grouped <= coded
