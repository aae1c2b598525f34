"""A small index of four hosts of different types, for the export tests: IDC (S3 buckets,
DRS GUIDs), TCIA (holding some of IDC's series under the same UIDs; a usage policy), a Gen3
commons (object GUIDs) and a DICOMweb server (WADO-RS; controlled tier). Collections carry
citations and DOIs."""

from __future__ import annotations

import uuid
from pathlib import Path

from imaging_hub.indexers.base import HarvestResult
from imaging_hub.indexers.tcia import USAGE_POLICY
from imaging_hub.schemas.columnar import collection_table
from imaging_hub.schemas.records import CollectionRecord, SeriesIdentifiers, SeriesRecord
from imaging_hub.store.base import IndexStore
from imaging_hub.store.embedded import EmbeddedStore
from tests.store import synthetic as syn

WADO_ROOT = "http://127.0.0.1:8042/dicom-web"
COMMONS = "data.example-commons.org"
CITATIONS = {
    ("idc", "lungs"): ("Doe, J. (2020). Lung screening CT [Data set]. The Cancer Imaging "
                       "Archive. https://doi.org/10.7937/LUNG-1", "10.7937/LUNG-1"),
    ("idc", "brains"): ("Roe, R. (2021). Glioma MR [Data set]. https://doi.org/10.7937/GBM-2",
                        "10.7937/GBM-2"),
    ("tcia", "LUNGS"): ("Doe, J. (2020). Lung screening CT [Data set]. The Cancer Imaging "
                        "Archive. https://doi.org/10.7937/LUNG-1", "10.7937/LUNG-1"),
    ("midrc", "covid"): (None, "10.60701/COVID-3"),  # no citation text recorded
    ("pacs", "clinic"): ("Clinic PACS export, internal.", None),
}
LINKS = {"idc": {}, "tcia": {"policy": USAGE_POLICY},
         "midrc": {"commons": f"https://{COMMONS}", "commons_host": COMMONS},
         "pacs": {"wado_rs": WADO_ROOT}}
TYPES = {"idc": "idc", "tcia": "tcia", "midrc": "gen3", "pacs": "dicomweb"}


def _uuid(text: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, text))


def _idc(i: int, coll: str) -> SeriesRecord:
    r = syn.series("idc", coll, f"I{i % 9}", f"2.25.{coll}.{i % 12}", f"2.25.1.{i}",
                   modality=("CT", "MR")[i % 2], sex=("F", "M", None)[i % 3],
                   age=None if i % 5 == 0 else 40.0 + i, year=2000 + i % 20,
                   body_part=("CHEST", "HEAD", None)[i % 3])
    u = _uuid(f"idc{i}")
    ids = SeriesIdentifiers(study_uid=r.identifiers.study_uid,
                            series_uid=r.identifiers.series_uid,
                            doi=CITATIONS[("idc", coll)][1], crdc_series_uuid=u,
                            drs_uri=f"drs://dg.4DFC:{u}", aws_bucket="idc-open-data")
    return r.model_copy(update={"identifiers": ids, "age_raw": None if r.age is None
                                else f"{int(r.age):03d}Y"})


def _copy(r: SeriesRecord, source: str, coll: str) -> SeriesRecord:
    ids = SeriesIdentifiers(study_uid=r.identifiers.study_uid,
                            series_uid=r.identifiers.series_uid, doi=r.identifiers.doi)
    return r.model_copy(update={"id": f"{source}:{r.identifiers.series_uid}",
                                "source": source, "collection": coll, "identifiers": ids,
                                "provenance": syn.prov(source)})


def _tier(r: SeriesRecord, tier: str) -> SeriesRecord:
    return r.model_copy(update={"access": r.access.model_copy(update={"tier": tier})})


def records() -> dict[str, list[SeriesRecord]]:
    idc = [_idc(i, ("lungs", "brains")[i % 4 == 3]) for i in range(40)]
    idc[1] = idc[1].model_copy(update={  # a description a TSV cell cannot hold as is
        "series_description": 'axial\tthin "1 mm"\nrecon, soft'})
    tcia = [_copy(r, "tcia", "LUNGS") for r in idc if r.collection == "lungs"][:12]
    tcia += [syn.series("tcia", "LUNGS", f"T{i}", f"3.3.{i}", f"3.3.1.{i}") for i in range(5)]
    midrc = []
    for i in range(8):
        r = syn.series("midrc", "covid", f"M{i}", f"4.4.{i}", f"4.4.1.{i}", modality="CR")
        u = _uuid(f"midrc{i}")
        ids = SeriesIdentifiers(study_uid=r.identifiers.study_uid,
                                series_uid=r.identifiers.series_uid, doi="10.60701/COVID-3",
                                drs_uri=f"drs://dg.MD1R:{u}",
                                source_native={"object_id": f"dg.MD1R/{u}"})
        midrc.append(r.model_copy(update={"identifiers": ids}))
    pacs = [_tier(syn.series("pacs", "clinic", f"C{i}", f"5.5.{i}", f"5.5.1.{i}",
                             modality="MR"), "controlled") for i in range(6)]
    pacs.append(_tier(_copy(idc[0], "pacs", "clinic"), "controlled"))  # IDC's, also here
    return {"idc": idc, "tcia": tcia, "midrc": midrc, "pacs": pacs}


def collection_records(source: str, recs: list[SeriesRecord]) -> list[CollectionRecord]:
    out = []
    for coll in sorted({r.collection for r in recs}):
        citation, doi = CITATIONS[(source, coll)]
        tier = "controlled" if source == "pacs" else "open"
        out.append(CollectionRecord(
            id=f"{source}:collection:{coll}", source=source, collection=coll,
            name=f"{coll.title()} collection", citation=citation,
            doi=[doi] if doi else [], access=syn.Access(tier=tier),
            provenance=syn.prov(source)))
    return out


def harvest(source: str, recs: list[SeriesRecord], run: str = "run-1") -> HarvestResult:
    done = syn.result(source, recs, run=run)
    return HarvestResult(series=done.series,
                         collections=collection_table(collection_records(source, recs)),
                         report=done.report, link_params=dict(LINKS[source]))


def publish_all(store: IndexStore, data: dict[str, list[SeriesRecord]]) -> None:
    for source, recs in data.items():
        store.publish(harvest(source, recs), TYPES[source])


def publish_home(home: Path) -> dict[str, list[SeriesRecord]]:
    data = records()
    publish_all(EmbeddedStore(home / "index"), data)
    return data
