"""What a harvest changed: added / updated / unchanged / deleted records, by stable id.

Content is compared by a hash of every data column (provenance excluded), so re-running a
harvest on unchanged data reports everything unchanged.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from imaging_hub.schemas.fields import CONTENT_COLUMNS

CONTENT = list(CONTENT_COLUMNS)


def diff(old: pa.Table, new: pa.Table) -> dict[str, int]:
    """Compare the published rows a harvest replaces (``old``) with its rows (``new``)."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("old_rows", old.select(["id", *CONTENT]))
        con.register("new_rows", new.select(["id", *CONTENT]))
        content = ", ".join(f'"{c}"' for c in CONTENT)  # fixed column names, not user input
        row = con.execute(f"""
            WITH o AS (SELECT id, hash({content}) AS h FROM old_rows),
                 n AS (SELECT id, hash({content}) AS h FROM new_rows)
            SELECT count(*) FILTER (WHERE o.id IS NULL),
                   count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND o.h <> n.h),
                   count(*) FILTER (WHERE o.h = n.h),
                   count(*) FILTER (WHERE n.id IS NULL)
            FROM o FULL OUTER JOIN n ON o.id = n.id""").fetchone()
    finally:
        con.close()
    added, updated, unchanged, deleted = row if row else (0, 0, 0, 0)
    return {"added": added, "updated": updated, "unchanged": unchanged, "deleted": deleted}
