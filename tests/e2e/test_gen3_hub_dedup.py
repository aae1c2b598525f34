"""The Biomedical Imaging Hub harvested through the gen3 source type beside a real IDC slice
(idc-index-data): the hub's IDC rows carry the same SeriesInstanceUIDs as IDC's own, so the
store counts each series once and lists both sources as its hosts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import idc_index_data

from imaging_hub.config import Settings
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.idc import IdcSource
from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.search_ui.service import QueryService
from imaging_hub.sources import load_sources
from imaging_hub.store.embedded import EmbeddedStore
from tests.gen3_server import Commons, gen3_server

COLLECTION = "pseudo_phi_dicom_data"


def idc_series(n: int) -> list[dict[str, str]]:
    rows = duckdb.execute(
        "SELECT SeriesInstanceUID, StudyInstanceUID, PatientID, Modality FROM read_parquet(?) "
        "WHERE collection_id = ? ORDER BY SeriesInstanceUID LIMIT ?",
        [str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH), COLLECTION, n]).fetchall()
    return [dict(zip(("SeriesInstanceUID", "StudyInstanceUID", "PatientID", "Modality"), r,
                     strict=True)) for r in rows]


def hub_rows(mirrored: list[dict[str, str]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {**s, "collection_id": COLLECTION, "commons_name": "IDC", "PatientSex": "Other",
         "auth_resource_path": f"/programs/IDC/projects/IDC_{COLLECTION}",
         "submitter_id": s["SeriesInstanceUID"]} for s in mirrored]
    rows += [{"SeriesInstanceUID": f"1.2.840.99999.7.{i}", "StudyInstanceUID": "1.2.840.99999.7",
              "PatientID": "AIMI-7", "collection_id": "aimi_test", "Modality": "DX",
              "commons_name": "Stanford AIMI", "submitter_id": f"aimi-{i}",
              "auth_resource_path": "/programs/AIMI/projects/aimi_test"} for i in range(2)]
    return rows


def test_hub_series_mirrored_from_idc_count_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    run_harvest(settings, "idc", IdcSource(collections=[COLLECTION]))
    store = EmbeddedStore(settings.index_dir)
    before = store.count(CohortQuery()).model_dump()
    mirrored = idc_series(3)
    fields = sorted({k for r in hub_rows(mirrored) for k in r} | {
        "BodyPartExamined", "Manufacturer", "PatientAge", "StudyDescription",
        "SeriesDescription", "data_url_doi", "license", "object_ids", "dicom_viewer_url",
        "commons_long_name", "race", "EthnicGroup", "metadata_source_version"})
    commons = Commons(rows={"imaging_series": hub_rows(mirrored), "dataset": []},
                      fields={"imaging_series": fields,
                              "dataset": ["collection_id", "full_name", "commons_name",
                                          "data_url_doi", "disease_type", "primary_site",
                                          "license", "publication_citation",
                                          "metadata_source_date", "auth_resource_path"]},
                      tier="libre")
    with gen3_server(commons) as url:
        (tmp_path / "sources.toml").write_text(
            f'[sources.bih]\ntype = "gen3"\nurl = "{url}"\nmodel = "bih"\n')
        config = load_sources(tmp_path / "sources.toml")["bih"]
        report = run_harvest(settings, "bih", config)
    assert report.series == 5 and report.status == "published"

    after = EmbeddedStore(settings.index_dir).count(CohortQuery()).model_dump()
    assert after["series"]["count"] == before["series"]["count"] + 2  # only the AIMI rows
    assert after["studies"]["count"] == before["studies"]["count"] + 1
    uids = [s["SeriesInstanceUID"] for s in mirrored]
    mirrored_count = EmbeddedStore(settings.index_dir).count(
        CohortQuery(filters={"series_uid": uids})).model_dump()
    assert mirrored_count["series"]["count"] == 3
    assert mirrored_count["subjects"]["count"] == len({s["PatientID"] for s in mirrored})

    hits = QueryService(EmbeddedStore(settings.index_dir)).search(SearchRequest.model_validate(
        {"filters": {"series_uid": uids[:1], "source": ["bih"]}})).hits
    assert len(hits) == 1
    hub = hits[0]
    assert hub.hosts == ["bih", "idc"]  # type: ignore[union-attr]
    assert hub.identifiers.source_native["platform"] == "IDC"  # type: ignore[union-attr]
    assert hub.extra == {"platform": "IDC"}  # type: ignore[union-attr]
    assert ("landing", "IDC") in {(link.rel, link.host) for link in hub.links}
