"""The data dictionary, generated from the field registry, the vocabulary tables and the
index's coverage: what every field is, which vocabulary harmonises it (with provenance and
every raw spelling mapped), and which sources fill it how often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imaging_hub.indexers.vocab import Vocabularies
from imaging_hub.schemas.dictionary import (
    CoverageResponse,
    DictionaryField,
    DictionaryResponse,
    FieldCoverage,
    TableSource,
    Vocabulary,
    VocabularyEntry,
)
from imaging_hub.schemas.fields import COLLECTION_COLUMNS, FIELDS, SERIES_COLUMNS, Column

SNOMED_NOTICE = (
    "SNOMED CT codes: the DICOM PS3.16 Annex L subset, free for implementers and users of "
    "DICOM under the SNOMED International - DICOM agreement. SNOMED and SNOMED CT are "
    "registered trademarks of SNOMED International.")


@dataclass(frozen=True)
class VocabularySpec:
    name: str
    description: str
    harmonised_from: tuple[str, ...]
    tables: tuple[str, ...]
    entries: Callable[[Vocabularies], list[VocabularyEntry]]


def _body_parts(v: Vocabularies) -> list[VocabularyEntry]:
    raw: dict[str, list[str]] = {}
    rows = v.table("body_part").rows
    term_code = {term: row["code"] for (term,), row in rows.items()}
    for term, code in sorted(term_code.items()):
        raw.setdefault(code, []).append(term)
    for (spelling,), row in sorted(v.table("body_part_alias").rows.items()):
        if row["term"]:
            raw[term_code[row["term"]]].append(spelling)
    first = {row["code"]: row for _, row in sorted(rows.items())}
    return [VocabularyEntry(value=code, label=v.code_meaning[code], raw=spellings,
                            attributes={"region": first[code]["region"],
                                        "laterality applies": first[code]["paired"]})
            for code, spellings in sorted(raw.items(), key=lambda kv: v.code_meaning[kv[0]])]


def _regions(v: Vocabularies) -> list[VocabularyEntry]:
    terms: dict[str, list[str]] = {}
    for (term,), row in sorted(v.table("body_part").rows.items()):
        if row["region"]:
            terms.setdefault(row["region"], []).append(term)
    return [VocabularyEntry(value=region, label=row["label"], raw=terms.get(region, []),
                            attributes={"description": row["description"]})
            for (region,), row in v.table("body_region").rows.items()]


def _procedures(v: Vocabularies) -> list[VocabularyEntry]:
    raw: dict[str, list[str]] = {}
    for (modality, description), row in sorted(v.table("procedure").rows.items()):
        raw.setdefault(row["loinc"], []).append(f"{modality} | {description}")
    out = []
    for (code,), row in sorted(v.table("loinc").rows.items()):
        axes = {k: row[k] for k in ("method", "system", "timing") if row[k]}
        out.append(VocabularyEntry(value=code, label=row["long_common_name"],
                                   raw=raw.get(code, []), attributes=axes))
    return out


def _modalities(v: Vocabularies) -> list[VocabularyEntry]:
    return [VocabularyEntry(value=code, label=meaning, raw=[code])
            for code, meaning in sorted(v.modality_meaning.items())]


def _categories(table: str) -> Callable[[Vocabularies], list[VocabularyEntry]]:
    def entries(v: Vocabularies) -> list[VocabularyEntry]:
        raw: dict[str, list[str]] = {}
        for (spelling,), row in sorted(v.table(table).rows.items()):
            raw.setdefault(row[table], []).append(spelling)
        return [VocabularyEntry(value=value, label=value or "(no value: not known)",
                                raw=spellings)
                for value, spellings in sorted(raw.items(), key=lambda kv: (not kv[0], kv[0]))]
    return entries


VOCABULARIES: tuple[VocabularySpec, ...] = (
    VocabularySpec("body_part", "BodyPartExamined to SNOMED CT (DICOM PS3.16 Annex L): an "
                   "Annex L term, the same with spaces, hyphens or underscores, or an alias "
                   "of one.", ("body_part",), ("body_part", "body_part_alias"), _body_parts),
    VocabularySpec("body_region", "The coarse region a person searches by, from the body "
                   "part's Annex L term: lung, heart and mediastinum are CHEST; a term naming "
                   "several regions has a combined region (CHEST+ABDOMEN+PELVIS).",
                   ("body_part",), ("body_region", "body_part"), _regions),
    VocabularySpec("procedure", "Study description and the series' modality to a "
                   "LOINC/RSNA Playbook code: the (modality, description) row, else the "
                   "table's any-modality row. Case and spacing of descriptions are ignored.",
                   ("modality", "study_description"),
                   ("procedure", "loinc"), _procedures),
    VocabularySpec("modality", "DICOM Modality code to its meaning.", ("modality",),
                   ("modality",), _modalities),
    VocabularySpec("sex", "The source's M/F/O where its indexer set one; otherwise the raw "
                   "PatientSex spelling.", ("sex_raw",), ("sex",), _categories("sex")),
    VocabularySpec("race", "Race spellings to OMB categories; several races listed in one "
                   "value give 'More than one race'.", ("race_raw",), ("race",),
                   _categories("race")),
    VocabularySpec("ethnicity", "Ethnicity spellings to OMB categories.", ("ethnicity_raw",),
                   ("ethnicity",), _categories("ethnicity")),
)
FIELD_VOCABULARY = {
    "body_part_code": "body_part", "body_part_meaning": "body_part",
    "body_region": "body_region", "procedure": "procedure", "procedure_name": "procedure",
    "modality_meaning": "modality", "sex": "sex", "race": "race", "ethnicity": "ethnicity",
}
# raw fields whose values a vocabulary reads (shown as such, not as harmonised)
READ_BY = {"modality": "modality", "body_part": "body_part"}


def _table_source(v: Vocabularies, name: str) -> TableSource:
    t = v.table(name)
    p = t.provenance
    return TableSource(
        table=name, title=p.get("title", ""), source=p.get("source", ""), url=p.get("url"),
        version=p.get("version"), retrieved=p.get("retrieved"), licence=p.get("licence", ""),
        notice=p.get("notice"), rows=len(t.rows), shipped_rows=t.shipped_rows,
        override=str(t.override) if t.override else None, override_rows=t.override_rows)


def vocabularies(v: Vocabularies) -> list[Vocabulary]:
    return [Vocabulary(name=s.name, description=s.description,
                       harmonised_from=list(s.harmonised_from),
                       tables=[_table_source(v, t) for t in s.tables], entries=s.entries(v))
            for s in VOCABULARIES]


def _coverage(name: str, coverage: CoverageResponse | None,
              ) -> dict[str, FieldCoverage] | None:
    if coverage is None or name not in FIELDS:
        return None
    out = {}
    for source, c in sorted(coverage.sources.items()):
        filled = c.fields.get(name, 0)
        out[source] = FieldCoverage(records=c.records, filled=filled, percent=round(
            100.0 * filled / c.records, 1) if c.records else 0.0)
    return out


def _field(c: Column, level: str, coverage: CoverageResponse | None) -> DictionaryField:
    vocab = FIELD_VOCABULARY.get(c.name) if level == "series" else None
    return DictionaryField(
        name=c.name, level=level, type=c.type, kind=c.filter, label=c.label or c.name,
        description=c.description or _stored_description(c), facet=c.facet, text=c.text,
        harmonised=vocab is not None, vocabulary=vocab or (
            READ_BY.get(c.name) if level == "series" else None),
        coverage=_coverage(c.name, coverage) if c.filter else None)


def _stored_description(c: Column) -> str:
    if c.name.endswith("_raw"):
        return f"{c.name.removesuffix('_raw')} exactly as the source has it."
    return f"Stored with the record ({c.path})."


def build(v: Vocabularies, coverage: CoverageResponse | None) -> DictionaryResponse:
    """The dictionary; without ``coverage`` (nothing published) fields have none. Coverage
    is given for searchable fields (a collection-level one counts the series whose
    collection has a value)."""
    fields = [_field(c, "series", coverage) for c in SERIES_COLUMNS]
    fields += [_field(c, "collection", coverage) for c in COLLECTION_COLUMNS]
    vocabs = vocabularies(v)
    notices = list(dict.fromkeys(t.notice for voc in vocabs for t in voc.tables if t.notice))
    return DictionaryResponse(index=coverage.index if coverage else None, fields=fields,
                              vocabularies=vocabs, notices=[*notices, SNOMED_NOTICE],
                              vocabulary_version=v.digest)
