"""Synthetic records for the store conformance suite, and a brute-force oracle."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from imaging_hub.indexers import normalise, vocab
from imaging_hub.indexers.base import HarvestResult
from imaging_hub.indexers.vocab import harmonise
from imaging_hub.schemas.columnar import collection_table, series_table
from imaging_hub.schemas.fields import FIELDS
from imaging_hub.schemas.records import (
    Access,
    CollectionRecord,
    Provenance,
    SeriesIdentifiers,
    SeriesRecord,
)
from imaging_hub.schemas.report import HarvestReport
from imaging_hub.schemas.text import parse_text, record_matches

AT = datetime(2026, 1, 2, tzinfo=UTC)
COLLECTIONS = {
    "lungs": ("Lung Screening Study", ["Lung Cancer", "Non-Cancer"], ["Chest"]),
    "brains": ("Glioma MR Archive", ["Glioblastoma"], ["Brain"]),
    "slides": ("Breast Pathology Slides", ["Breast Cancer"], ["Breast"]),
}
MODALITIES = ["CT", "MR", "PT", "SM", "SEG"]
DESCRIPTIONS = ["Axial T1 post contrast", "CHEST CT low dose", "Lung nodule seg",
                "H&E whole slide", "brain flair", None]


# Raw BodyPartExamined spellings and what the harmonised fields must be, written down here
# independently of the vocabulary tables: (SNOMED CT code, body region).
BODY_PARTS_EXPECTED: dict[str | None, tuple[str | None, str | None]] = {
    "CHEST": ("816094009", "CHEST"), "Lung": ("39607008", "CHEST"),
    "THORAX": ("816094009", "CHEST"), "heart": ("80891009", "CHEST"),
    "MEDIASTINUM": ("72410000", "CHEST"), "TH CT CHEST WO C": ("816094009", "CHEST"),
    "Head-Neck": ("774007", "HEAD+NECK"), "Left Breast": ("76752008", "BREAST"),
    "BRAIN": ("12738006", "HEAD"), "HEAD": ("69536005", "HEAD"),
    "BREAST": ("76752008", "BREAST"), "WHOLEBODY": ("38266002", "WHOLE BODY"),
    "OTHER": (None, None), "RIBCAGE-ish": (None, None), None: (None, None),
}
BODY_PARTS = list(BODY_PARTS_EXPECTED)
# what a person reads for them (DICOM PS3.16 Annex L code meanings; CID 29/33 modalities)
BODY_PART_MEANINGS: dict[str | None, str | None] = {
    "CHEST": "Chest", "Lung": "Lung", "THORAX": "Chest", "heart": "Heart",
    "MEDIASTINUM": "Mediastinum", "TH CT CHEST WO C": "Chest", "Head-Neck": "Head and Neck",
    "Left Breast": "Breast", "BRAIN": "Brain", "HEAD": "Head", "BREAST": "Breast",
    "WHOLEBODY": "Entire body", "OTHER": None, "RIBCAGE-ish": None, None: None}
MODALITY_MEANINGS = {"CT": "Computed Tomography", "MR": "Magnetic Resonance",
                     "PT": "Positron emission tomography", "SM": "Slide Microscopy",
                     "SEG": "Segmentation"}
RACES_EXPECTED: dict[str | None, str | None] = {
    "White": "White", "BLACK": "Black or African American", "Asian, White":
    "More than one race", "Not Reported": None, "Martian": None, None: None}
RACES = list(RACES_EXPECTED)


def prov(source: str, run: str = "run-1") -> Provenance:
    return Provenance(source=source, source_version=f"{source} v1", harvested_at=AT, run_id=run)


def series(source: str, collection: str, subject: str, study: str, uid: str, *,
           modality: str = "CT", sex: str | None = "F", age: float | None = 65.0,
           description: str | None = None, instances: int = 10, license: str = "CC BY 4.0",
           year: int | None = 2001, run: str = "run-1", body_part: str | None = None,
           race: str | None = None) -> SeriesRecord:
    return SeriesRecord(
        id=f"{source}:{uid}", source=source, collection=collection, subject_id=subject,
        identifiers=SeriesIdentifiers(study_uid=study, series_uid=uid, doi=f"10.1/{collection}"),
        modality=modality, sex=sex, age=age, series_description=description,
        body_part=normalise.code(body_part), body_part_raw=body_part, race_raw=race,
        study_date=date(year, 6, 1) if year else None, study_year=year, instances=instances,
        size_bytes=instances * 1000,
        access=Access(tier="open", license=license, commercial_use="NC" not in license),
        provenance=prov(source, run),
    )


def sequestered(r: SeriesRecord) -> SeriesRecord:
    """``r`` in the sequestered tier (held by its host, never shown)."""
    return r.model_copy(update={"access": r.access.model_copy(update={"tier": "sequestered"})})


def collection(source: str, cid: str) -> CollectionRecord:
    name, diseases, sites = COLLECTIONS[cid]
    return CollectionRecord(
        id=f"{source}:collection:{cid}", source=source, collection=cid, name=name,
        disease_type=diseases, primary_site=sites, access=Access(tier="open"),
        provenance=prov(source))


def result(source: str, records: Iterable[SeriesRecord],
           collections: Iterable[str] = (), run: str = "run-1") -> HarvestResult:
    """A harvest of ``records``, harmonised with the shipped vocabularies as the harvest
    runner does (the oracle below knows the expected harmonised values independently)."""
    records = list(records)
    report = HarvestReport(source=source, run_id=run, source_version=f"{source} v1",
                           started_at=AT, series=len(records))
    return HarvestResult(series=harmonise(series_table(records), vocab.load()).table,
                         collections=collection_table(collection(source, c) for c in collections),
                         report=report)


def random_records(seed: int, n: int = 400) -> dict[str, list[SeriesRecord]]:
    """Two sources; 'mirror' re-hosts a third of 'alpha''s series under the same UIDs."""
    rng = random.Random(seed)
    alpha: list[SeriesRecord] = []
    for i in range(n):
        coll = rng.choice(list(COLLECTIONS))
        subj = f"P{rng.randrange(60)}"
        study = f"1.2.{coll}.{subj}.{rng.randrange(3)}"
        alpha.append(series(
            "alpha", coll, subj, study, f"1.2.9.{i}", modality=rng.choice(MODALITIES),
            sex=rng.choice(["M", "F", "O", None]),
            age=rng.choice([None, rng.randrange(0, 95) + 0.5 * rng.randrange(2)]),
            description=rng.choice(DESCRIPTIONS), instances=rng.randrange(1, 300),
            license=rng.choice(["CC BY 4.0", "CC BY-NC 4.0"]),
            year=rng.choice([None, 1999, 2001, 2010, 2020]),
            body_part=rng.choice(BODY_PARTS), race=rng.choice(RACES)))
    mirror = [r.model_copy(update={"id": f"mirror:{r.identifiers.series_uid}",
                                   "source": "mirror", "provenance": prov("mirror")})
              for r in alpha if rng.random() < 0.33]
    return {"alpha": alpha, "mirror": mirror}


# which (source, collection) pairs have a collection record in the conformance fixture:
# collection-level fields come from the record of the series' own source only
COLLECTION_RECORDS = {("alpha", c) for c in COLLECTIONS} | {("mirror", "lungs")}


def field_matches(r: SeriesRecord, name: str, flt: object) -> bool:
    """Brute force: one field's filter — any listed value, any listed range, or (null listed)
    no value."""
    coll = COLLECTIONS.get(r.collection) if (r.source, r.collection) in COLLECTION_RECORDS \
        else None
    values: dict[str, list[object]] = {
        "source": [r.source], "collection": [r.collection], "modality": [r.modality],
        "sex": [r.sex], "license": [r.access.license],
        "disease_type": list(coll[1]) if coll else [],
        "primary_site": list(coll[2]) if coll else [],
        "study_year": [r.study_year], "age": [r.age], "instances": [r.instances],
        "series_uid": [r.identifiers.series_uid], **harmonised(r),
    }
    present = [v for v in values[name] if v is not None]
    for item in flt if isinstance(flt, list) else [flt]:  # type: ignore[attr-defined]
        if item is None:
            if not present:
                return True
        elif isinstance(item, dict):
            for v in present:
                x = float(v)  # type: ignore[arg-type]
                if (x >= item.get("gte", -1e300) and x <= item.get("lte", 1e300)
                        and x > item.get("gt", -1e300) and x < item.get("lt", 1e300)):
                    return True
        elif item in present:
            return True
    return False


def where_matches(r: SeriesRecord, expr: dict[str, object]) -> bool:
    """Brute force: a ``where`` expression."""
    if "field" in expr:
        return field_matches(r, str(expr["field"]), expr["any_of"])
    if "not" in expr:
        return not where_matches(r, expr["not"])  # type: ignore[arg-type]
    if "all" in expr:
        return all(where_matches(r, e) for e in expr["all"])  # type: ignore[attr-defined]
    return any(where_matches(r, e) for e in expr["any"])  # type: ignore[attr-defined]


def matches(r: SeriesRecord, filters: dict[str, object], text: str | None,
            where: dict[str, object] | None = None) -> bool:
    """Brute-force filter semantics: OR within a field, AND across, inclusive ranges."""
    if not all(field_matches(r, name, flt) for name, flt in filters.items()):
        return False
    if where is not None and not where_matches(r, where):
        return False
    if text:
        return record_matches(parse_text(text), record_texts(r))
    return True


def _norm(value: str | None) -> str:
    """Words of a value, by regular-expression word boundaries (the oracle's own reading)."""
    found = re.findall(r"[A-Za-z0-9]+", value or "")
    return " " + " ".join(w.lower() for w in found) + " " if found else ""


def record_texts(r: SeriesRecord) -> list[str]:
    """A record's searchable texts: its own fields, then its collection record's."""
    coll = COLLECTIONS.get(r.collection) if (r.source, r.collection) in COLLECTION_RECORDS \
        else None
    values = [r.series_description, r.study_description, r.body_part, r.collection,
              BODY_PART_MEANINGS[r.body_part_raw], MODALITY_MEANINGS.get(r.modality or "")]
    if coll:
        values += [coll[0], *coll[1], *coll[2]]
    return [_norm(v) for v in values]


def person_of(everything: list[SeriesRecord]) -> dict[tuple[str, str], tuple[str, str]]:
    """Union-find over (source, PatientID): subjects of different sources holding the same
    StudyInstanceUID are one person (sequestered records link no one). Built over all
    published records, as the store does."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_study: dict[str, set[tuple[str, str]]] = {}
    for r in everything:  # sequestered records link no one (they must not change counts)
        if r.access.tier != "sequestered" and r.identifiers.study_uid is not None:
            by_study.setdefault(r.identifiers.study_uid, set()).add((r.source, r.subject_id))
    for members in by_study.values():
        for a in members:
            for b in members:
                if a[0] != b[0]:
                    parent[find(a)] = find(b)
    return {node: find(node) for node in {(r.source, r.subject_id) for r in everything}}


def oracle_counts(records: list[SeriesRecord],
                  everything: list[SeriesRecord] | None = None) -> dict[str, int]:
    uniq: dict[str, SeriesRecord] = {r.identifiers.series_uid: r for r in records}
    person = person_of(everything if everything is not None else records)
    return {
        "subjects": len({person[(r.source, r.subject_id)] for r in records}),
        "studies": len({r.identifiers.study_uid for r in records}),
        "series": len(uniq),
        "instances": sum(r.instances for r in uniq.values()),
        "bytes": sum(r.size_bytes or 0 for r in uniq.values()),
    }


def _age_label(age: float) -> str:
    decade = min(int(age // 10), 10)
    return "100+" if decade == 10 else f"{decade * 10}-{decade * 10 + 9}"


def facet_values(r: SeriesRecord, name: str) -> list[object]:
    """The values a record contributes to facet ``name`` (brute force)."""
    coll = COLLECTIONS.get(r.collection) if (r.source, r.collection) in COLLECTION_RECORDS \
        else None
    values: dict[str, list[object]] = {
        "source": [r.source], "collection": [r.collection], "modality": [r.modality],
        "sex": [r.sex], "license": [r.access.license],
        "disease_type": list(coll[1]) if coll else [],
        "primary_site": list(coll[2]) if coll else [],
        "age": [_age_label(r.age)] if r.age is not None else [],
        "study_year": [r.study_year], **harmonised(r),
    }
    present = [v for v in values[name] if v is not None]
    return present or [None]  # "not recorded" is a bucket of its own


def harmonised(r: SeriesRecord) -> dict[str, list[object]]:
    """The harmonised values a record must have (from the expectations above)."""
    code, region = BODY_PARTS_EXPECTED[r.body_part_raw]
    return {"body_part_code": [code], "body_region": [region],
            "race": [RACES_EXPECTED[r.race_raw]], "race_raw": [r.race_raw],
            "body_part": [r.body_part]}


def entity(r: SeriesRecord, unit: str, person: dict[tuple[str, str], tuple[str, str]]
           ) -> object:
    """What a record is counted as in a facet unit."""
    if unit == "series":
        return r.identifiers.series_uid
    if unit == "studies":
        return r.identifiers.study_uid
    if unit == "subjects":
        return person[(r.source, r.subject_id)]
    return (r.source, r.collection)


def facet_counts(records: list[SeriesRecord], filters: dict[str, object], text: str | None,
                 name: str, unit: str | None) -> dict[object, int]:
    """Facet ``name``'s counts by brute force: distinct units of the records matching every
    other filter and the text (disjunctive facets), values counted in ``unit``."""
    person = person_of(records)
    others = {k: v for k, v in filters.items() if k != name}
    want: dict[object, set[object]] = {}
    for r in records:
        if matches(r, others, text):
            for v in facet_values(r, name):
                want.setdefault(v, set()).add(entity(r, unit or "series", person))
    return {v: len(e) for v, e in want.items()}


def has_value(r: SeriesRecord, name: str) -> bool:
    """Whether record ``r`` has a value in searchable field ``name`` (brute force, through
    the registry's record paths; collection-level fields through the collection)."""
    spec = FIELDS[name]
    if spec.collection_level:
        has_record = (r.source, r.collection) in COLLECTION_RECORDS
        return has_record and name in ("disease_type", "primary_site")  # no species listed
    if name in ("body_part_code", "body_region"):
        return BODY_PARTS_EXPECTED[r.body_part_raw][0 if name == "body_part_code" else 1] \
            is not None
    if name == "race":
        return RACES_EXPECTED[r.race_raw] is not None
    if name == "modality_meaning":
        return r.modality is not None
    value: object = r
    for part in spec.path.split("."):
        value = getattr(value, part)
    return value is not None and value != []
