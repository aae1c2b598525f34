from datetime import UTC, datetime

from imaging_hub.indexers import idc
from imaging_hub.schemas.records import Access, Provenance, SeriesIdentifiers, SeriesRecord
from imaging_hub.search_ui import links


def record(modality: str, **ids: str | None) -> SeriesRecord:
    return SeriesRecord(
        id="idc:1.2.3", source="idc", collection="c", subject_id="p1", modality=modality,
        identifiers=SeriesIdentifiers(study_uid="1.2", series_uid="1.2.3", **ids),
        instances=1, access=Access(tier="open", license="CC BY 4.0"),
        provenance=Provenance(source="idc", source_version="v", run_id="r",
                              harvested_at=datetime(2026, 1, 1, tzinfo=UTC)),
    )


def test_radiology_series_open_in_ohif_v3() -> None:
    (link,) = idc.idc_viewer(record("CT"))
    assert link.href == ("https://viewer.imaging.datacommons.cancer.gov/v3/viewer/"
                         "?StudyInstanceUIDs=1.2&initialSeriesInstanceUID=1.2.3")


def test_slide_series_open_in_slim() -> None:
    (link,) = idc.idc_viewer(record("SM"))
    assert link.href == "https://viewer.imaging.datacommons.cancer.gov/slim/studies/1.2/series/1.2.3"


def test_a_record_without_a_series_uid_gets_no_viewer_or_portal_link() -> None:
    subject_row = record("CT").model_copy(update={"identifiers": SeriesIdentifiers(
        study_uid=None, series_uid=None, doi="10.7937/abc")})
    for source_type, params in (("idc", {}), ("tcia", {}),
                                ("dicomweb", {"viewer": "https://v/{study_uid}/{series_uid}",
                                              "wado_rs": "https://pacs/dicom-web"})):
        rels = {link.rel for link in links.series_links(subject_row, source_type, params)}
        assert not rels & {"viewer", "landing", "download"}, (source_type, rels)
    assert {link.rel for link in links.series_links(subject_row, "idc")} == {"doi"}


def test_idc_series_links_cover_viewer_doi_drs_and_s3() -> None:
    r = record("CT", doi="10.7937/abc", drs_uri="drs://dg.4DFC:u-1", crdc_series_uuid="u-1",
               aws_bucket="idc-open-data")
    by_rel = {link.rel: link.href for link in links.series_links(r, "idc")}
    assert by_rel["doi"] == "https://doi.org/10.7937/abc"
    assert by_rel["drs"] == "drs://dg.4DFC:u-1"
    assert by_rel["download"] == "s3://idc-open-data/u-1/*"
    assert set(by_rel) == {"viewer", "doi", "drs", "download"}


def test_missing_identifiers_give_no_dangling_links() -> None:
    rels = {link.rel for link in links.series_links(record("CT"), "idc")}
    assert rels == {"viewer"}
    assert links.series_links(record("CT"), "other") == []
