"""What a harvest changed: added / updated / unchanged / deleted records, by stable id.

Content is compared by a hash of every data column (provenance excluded), so re-running a
harvest on unchanged data reports everything unchanged.
"""

from __future__ import annotations

import duckdb

from imaging_hub.schemas.fields import CONTENT_COLUMNS

CONTENT = list(CONTENT_COLUMNS)


def diff(con: duckdb.DuckDBPyConnection, old: str, new: str) -> dict[str, int]:
    """Compare the published rows a harvest replaces (the query ``old``) with its rows (the
    query ``new``), both over series columns on ``con``."""
    content = ", ".join(f'"{c}"' for c in CONTENT)  # fixed column names, not user input
    row = con.execute(f"""
        WITH o AS (SELECT id, hash({content}) AS h FROM ({old})),
             n AS (SELECT id, hash({content}) AS h FROM ({new}))
        SELECT count(*) FILTER (WHERE o.id IS NULL),
               count(*) FILTER (WHERE o.id IS NOT NULL AND n.id IS NOT NULL AND o.h <> n.h),
               count(*) FILTER (WHERE o.h = n.h),
               count(*) FILTER (WHERE n.id IS NULL)
        FROM o FULL OUTER JOIN n ON o.id = n.id""").fetchall()  # all: DuckDB 2 wants it done
    added, updated, unchanged, deleted = row[0] if row else (0, 0, 0, 0)
    return {"added": added, "updated": updated, "unchanged": unchanged, "deleted": deleted}
