"""Links back to the host platforms, built at query time from stored identifiers.

One pure function per platform; a URL scheme change is an edit here, never a reindex.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord

IDC_VIEWER = "https://viewer.imaging.datacommons.cancer.gov"
IDC_PORTAL = "https://portal.imaging.datacommons.cancer.gov"
DOI_RESOLVER = "https://doi.org"
SLIDE_MODALITIES = frozenset({"SM"})


def idc_viewer(r: SeriesRecord) -> Link:
    """IDC's viewer: Slim for slide microscopy, OHIF v3 for everything else."""
    study, series = quote(r.identifiers.study_uid), quote(r.identifiers.series_uid)
    if r.modality in SLIDE_MODALITIES:
        return Link(rel="viewer", host="idc", title="Slim viewer (IDC)",
                    href=f"{IDC_VIEWER}/slim/studies/{study}/series/{series}")
    return Link(rel="viewer", host="idc", title="OHIF v3 viewer (IDC)",
                href=f"{IDC_VIEWER}/v3/viewer/?StudyInstanceUIDs={study}"
                     f"&initialSeriesInstanceUID={series}")


def idc_study_viewer(study_uid: str, modalities: list[str]) -> Link:
    """IDC's viewer for a whole study (Slim when the study holds slides)."""
    study = quote(study_uid)
    if SLIDE_MODALITIES & set(modalities):
        return Link(rel="viewer", host="idc", title="Slim viewer (IDC)",
                    href=f"{IDC_VIEWER}/slim/studies/{study}")
    return Link(rel="viewer", host="idc", title="OHIF v3 viewer (IDC)",
                href=f"{IDC_VIEWER}/v3/viewer/?StudyInstanceUIDs={study}")


def study_links(study_uid: str, modalities: list[str], source_types: list[str]) -> list[Link]:
    """Links of a study hit, one viewer per hosting platform that has one."""
    links = []
    if "idc" in source_types:
        links.append(idc_study_viewer(study_uid, modalities))
    return links


def doi(value: str, host: str) -> Link:
    return Link(rel="doi", host=host, title=f"DOI {value}", href=f"{DOI_RESOLVER}/{value}")


def drs(r: SeriesRecord) -> list[Link]:
    """The GA4GH DRS URI (resolved by any DRS client, e.g. gen3-client, Terra)."""
    uri = r.identifiers.drs_uri
    return [Link(rel="drs", host="crdc", title="GA4GH DRS URI", href=uri)] if uri else []


def s3(r: SeriesRecord) -> list[Link]:
    """Bulk download location: every instance file of the series under one S3 prefix."""
    ids = r.identifiers
    if not (ids.aws_bucket and ids.crdc_series_uuid):
        return []
    return [Link(rel="download", host="aws", title="S3 prefix (s5cmd / aws s3 cp)",
                 href=f"s3://{ids.aws_bucket}/{ids.crdc_series_uuid}/*")]


def idc_collection_page(collection: str) -> Link:
    return Link(rel="landing", host="idc", title="IDC portal",
                href=f"{IDC_PORTAL}/explore/filters/?collection_id={quote(collection)}")


def series_links_idc(r: SeriesRecord) -> list[Link]:
    links = [idc_viewer(r)]
    if r.identifiers.doi:
        links.append(doi(r.identifiers.doi, "idc"))
    return links + drs(r) + s3(r)


def collection_links_idc(r: CollectionRecord) -> list[Link]:
    return [idc_collection_page(r.collection)] + [doi(d, "idc") for d in r.doi]


# source type -> builders; sources without an entry get generic identifier links
SERIES_BUILDERS: dict[str, Callable[[SeriesRecord], list[Link]]] = {"idc": series_links_idc}
COLLECTION_BUILDERS: dict[str, Callable[[CollectionRecord], list[Link]]] = {
    "idc": collection_links_idc,
}


def series_links(r: SeriesRecord, source_type: str) -> list[Link]:
    """All links of a series hit, by the type of the source it came from."""
    builder = SERIES_BUILDERS.get(source_type)
    if builder is not None:
        return builder(r)
    generic = [doi(r.identifiers.doi, source_type)] if r.identifiers.doi else []
    return generic + drs(r)


def collection_links(r: CollectionRecord, source_type: str) -> list[Link]:
    builder = COLLECTION_BUILDERS.get(source_type)
    if builder is not None:
        return builder(r)
    return [doi(d, source_type) for d in r.doi]
