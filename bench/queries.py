"""The benchmark's fixed query mix (realistic cohort questions in the API's format) and the
same questions as SQL over idc-index's columns, for the DuckDB floor and for idc-index.

Every value below exists in IDC v25 (idc-index-data 25.x), checked against the parquet, so
no query is trivially empty. The first few are the ones also timed with idc-index (slow), so
they cover the row filters, the age range, a text term and collection-level lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypedDict

FACETS: list[str] = [
    "source", "collection", "disease_type", "primary_site", "modality", "body_part", "sex",
    "age", "license", "access",
]


class Query(TypedDict):
    name: str
    text: str | None
    filters: dict[str, Any]


def _q(name: str, text: str | None = None, **filters: Any) -> Query:
    return Query(name=name, text=text, filters=filters)


QUERIES: list[Query] = [
    _q("ct-chest-women-60+-ccby4", modality=["CT"], body_part=["CHEST"], sex=["F"],
       age={"gte": 60}, license=["CC BY 4.0"]),
    _q("mr-brain-t1", "T1", modality=["MR"], primary_site=["Brain"]),
    _q("lung-cancer-pet", disease_type=["Lung Cancer"], modality=["PT"]),
    _q("sm-breast-cancer", modality=["SM"],
       disease_type=["Breast Cancer", "Breast Invasive Carcinoma"]),
    _q("nlst-1999-2000", collection=["nlst"], study_year={"gte": 1999, "lte": 2000}),
    _q("prostate-mr-text", "prostate", modality=["MR"]),
    _q("age-18-40", age={"gte": 18, "lte": 40}),
    _q("siemens-mr", manufacturer=["SIEMENS"], modality=["MR"]),
    _q("text-covid", "covid"),
    _q("text-gbm-flair", "gbm flair"),
    _q("everything"),
    _q("mammo-women", modality=["MG"], sex=["F"], body_part=["BREAST"]),
    _q("lidc-seg", "nodule", collection=["lidc_idri"], modality=["SEG"]),
    _q("kidney-ct-men", primary_site=["Kidney"], modality=["CT"], sex=["M"]),
    _q("mr-2010-2011", study_year=[2010, 2011], modality=["MR"]),
    _q("hnscc-rtstruct", disease_type=["Head and Neck Squamous Cell Carcinoma"],
       modality=["RTSTRUCT", "CT"]),
    _q("paediatric", age={"lte": 17}),
    _q("ct-men-80+", modality=["CT"], sex=["M"], age={"gte": 80}),
    _q("prostate-dwi", "dwi", body_part=["PROSTATE"]),
    _q("nc-licence-mr", license=["CC BY-NC 4.0", "CC BY-NC 3.0"], modality=["MR"]),
    _q("tcga-slides", collection=["tcga_brca", "tcga_luad", "tcga_kirc"], modality=["SM"]),
    _q("ge-ct-contrast", "contrast", manufacturer=["GE MEDICAL SYSTEMS"], modality=["CT"]),
    _q("glioblastoma-mr", disease_type=["Glioblastoma", "Glioblastoma Multiforme"],
       modality=["MR"]),
    _q("colon-ct", primary_site=["Colon"], modality=["CT"]),
    _q("ct-pet-50-70-since-2005", modality=["CT", "PT"], age={"gte": 50, "lte": 70},
       study_year={"gte": 2005}),
]


# -- the same questions as SQL (the DuckDB floor and idc-index) -----------------------------
MULTI = ("disease_type", "primary_site")
QUALIFIER = "'not otherwise specified|nos|not specified'"
PAGE = 20


def split_list(col: str) -> str:
    """SQL: comma-separated list to values, a qualifier part ('Not Otherwise Specified')
    glued back to the value before it, as the harvester does."""
    p = f"list_filter(list_transform(string_split({col}, ','), lambda x: trim(x)), " \
        "lambda x: x <> '')"
    return (f"list_distinct(list_filter(list_transform({p}, lambda x, i: CASE"
            f" WHEN i > 1 AND regexp_full_match(lower(x), {QUALIFIER}) THEN NULL"
            f" WHEN i < len({p}) AND regexp_full_match(lower({p}[i + 1]), {QUALIFIER})"
            f" THEN x || ', ' || {p}[i + 1] ELSE x END), lambda x: x IS NOT NULL))")


_AGE_AS = "upper(trim(PatientAge))"
_YEARS = (f"round(CAST(left({_AGE_AS}, 3) AS INTEGER) * CASE right({_AGE_AS}, 1)"
          " WHEN 'D' THEN 1.0::DOUBLE / 365.25 WHEN 'W' THEN 7.0::DOUBLE / 365.25"
          " WHEN 'M' THEN 1.0::DOUBLE / 12 ELSE 1.0::DOUBLE END, 4)")
# the harvester's rule (normalise.parse_age): 000Y is a placeholder, over 110 years no age
AGE = (f"CASE WHEN regexp_full_match({_AGE_AS}, '[0-9]{{3}}[DWMY]') AND {_AGE_AS} <> '000Y'"
       f" AND {_YEARS} <= 110 THEN {_YEARS} END")
_SEX = "upper(trim(PatientSex))"
# Every searchable field as an expression over the raw idc-index columns.
RAW: dict[str, str] = {
    "source": "'idc'", "access": "'open'", "collection": "collection_id",
    "subject_id": "PatientID", "study_uid": "StudyInstanceUID",
    "series_uid": "SeriesInstanceUID", "instances": "instanceCount",
    "modality": "nullif(upper(trim(Modality)), '')",
    "body_part": "nullif(upper(trim(BodyPartExamined)), '')",
    "sex": f"CASE WHEN {_SEX} IN ('M', 'F', 'O') THEN {_SEX} END",
    "age": AGE, "license": "license_short_name",
    "manufacturer": "nullif(trim(Manufacturer), '')",
    "study_year": "year(try_cast(StudyDate AS DATE))",
    "series_description": "SeriesDescription", "study_description": "StudyDescription",
}
WORD = "(^|[^a-z0-9]){term}([^a-z0-9]|$)"  # the benchmark's terms are ASCII words
# A series' own text fields (schemas/fields.py, text=True); the harmonised meanings are
# columns of the floor's table only where it derived them (idc-index has none)
TEXT_COLUMNS = ("series_description", "study_description", "body_part", "body_part_meaning",
                "modality_meaning", "procedure_name")
MEANINGS = ("body_part_meaning", "modality_meaning", "procedure_name")
COLL_SELECT = ("SELECT collection_id, collection_name, description,"
               f" {split_list('cancer_types')} AS disease_type,"
               f" {split_list('tumor_locations')} AS primary_site FROM {{src}}")
AGE_BUCKET = ("CASE WHEN age >= 100 THEN '100+' WHEN age >= 0 THEN"
              " (floor(age / 10) * 10)::INTEGER || '-' || ((floor(age / 10) * 10)::INTEGER + 9)"
              " END")

Bind = Callable[[Any], str]


def where(q: Query, col: Mapping[str, str], coll: str, bind: Bind, skip: str | None = None
          ) -> str:
    """The question as a WHERE condition: every text term somewhere, AND across fields,
    OR within a field's values, inclusive ranges."""
    parts: list[str] = []
    for term in (q["text"] or "").split():  # whole words (schemas/text.py), any field
        t = bind(WORD.format(term=term.lower()))
        own = " OR ".join(f"regexp_matches(lower(coalesce({col[c]}, '')), {t})"
                          for c in TEXT_COLUMNS if c in col)
        parts.append(
            f"({own} OR {col['collection']} IN (SELECT collection_id FROM {coll}"
            f" WHERE regexp_matches(lower(collection_id || ' ' || collection_name || ' ' ||"
            f" coalesce(description, '') || ' ' || array_to_string(disease_type, ' ') || ' '"
            f" || array_to_string(primary_site, ' ')), {t})))")
    for name, flt in q["filters"].items():
        if name == skip:
            continue
        if name in MULTI:
            parts.append(f"{col['collection']} IN (SELECT collection_id FROM {coll}"
                         f" WHERE list_has_any({name}, {bind(list(flt))}))")
        elif isinstance(flt, dict):
            if flt.get("gte") is not None:
                parts.append(f"{col[name]} >= {bind(flt['gte'])}")
            if flt.get("lte") is not None:
                parts.append(f"{col[name]} <= {bind(flt['lte'])}")
        else:
            parts.append(f"{col[name]} IN ({', '.join(bind(v) for v in flt)})")
    return " AND ".join(parts) or "TRUE"


def literal(v: Any) -> str:
    """A constant as SQL text (idc-index's sql_query takes no parameters)."""
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return repr(v)


def counts_sql(table: str, col: Mapping[str, str], cond: str) -> str:
    return (f"SELECT count(DISTINCT {col['subject_id']}), count(DISTINCT {col['study_uid']}),"
            f" count(*), coalesce(sum({col['instances']}), 0) FROM {table} WHERE {cond}")


def facet_sql(names: list[str], cond: str) -> str:
    """(facet, value, series) rows: one GROUPING SETS pass for row-level facets, the
    collection-level lists through per-collection counts."""
    kw = [n for n in names if n not in MULTI]
    multi = [n for n in names if n in MULTI]
    ctes = [f"m AS (SELECT * FROM s WHERE {cond})"]
    selects: list[str] = []
    if kw:
        cols = ["age_bucket" if n == "age" else n for n in kw]
        whens = " ".join(f"WHEN GROUPING({c}) = 0 THEN '{n}'" for c, n in zip(cols, kw,
                                                                               strict=True))
        selects.append(
            f"SELECT f, v, n FROM (SELECT CASE {whens} END AS f,"
            f" coalesce({', '.join(c + '::VARCHAR' for c in cols)}) AS v, count(*) AS n"
            f" FROM m GROUP BY GROUPING SETS ({', '.join(f'({c})' for c in cols)}))"
            " WHERE v IS NOT NULL")
    if multi:
        ctes.append("cc AS (SELECT collection, count(*) AS n FROM m GROUP BY collection)")
        for n in multi:
            selects.append(
                f"SELECT '{n}', v, sum(n)::BIGINT FROM (SELECT unnest(coll.{n}) AS v, cc.n"
                " FROM cc JOIN coll ON coll.collection_id = cc.collection) GROUP BY v")
    return f"WITH {', '.join(ctes)} " + " UNION ALL ".join(selects)
