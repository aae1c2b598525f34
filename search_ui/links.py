"""Links back to the host platforms, built at query time from stored identifiers.

One pure function per platform; a URL scheme change is an edit here, never a reindex.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
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


Params = Mapping[str, str]


def wado_rs(base: str, study_uid: str, series_uid: str | None = None) -> Link:
    href = f"{base.rstrip('/')}/studies/{quote(study_uid)}"
    if series_uid:
        href += f"/series/{quote(series_uid)}"
    return Link(rel="wado-rs", host="dicomweb", title="WADO-RS (DICOMweb retrieve)", href=href)


def viewer_template(template: str, study_uid: str, series_uid: str = "") -> Link:
    """A configured viewer URL; ``{study_uid}`` and ``{series_uid}`` are filled in."""
    href = template.replace("{study_uid}", quote(study_uid)).replace(
        "{series_uid}", quote(series_uid))
    return Link(rel="viewer", host="dicomweb", title="Viewer", href=href)


def series_links_idc(r: SeriesRecord, params: Params) -> list[Link]:
    links = [idc_viewer(r)]
    if r.identifiers.doi:
        links.append(doi(r.identifiers.doi, "idc"))
    return links + drs(r) + s3(r)


def series_links_dicomweb(r: SeriesRecord, params: Params) -> list[Link]:
    ids = r.identifiers
    links = []
    if params.get("viewer"):
        links.append(viewer_template(params["viewer"], ids.study_uid, ids.series_uid))
    if params.get("wado_rs"):
        links.append(wado_rs(params["wado_rs"], ids.study_uid, ids.series_uid))
    return links


def series_links_folder(r: SeriesRecord, params: Params) -> list[Link]:
    folder = r.identifiers.source_native.get("folder")
    if not folder:
        return []
    return [Link(rel="files", host="folder", title="Folder holding the series",
                 href=Path(folder).resolve().as_uri())]


def collection_links_idc(r: CollectionRecord, params: Params) -> list[Link]:
    return [idc_collection_page(r.collection)] + [doi(d, "idc") for d in r.doi]


# source type -> builders; sources without an entry get generic identifier links
SERIES_BUILDERS: dict[str, Callable[[SeriesRecord, Params], list[Link]]] = {
    "idc": series_links_idc, "dicomweb": series_links_dicomweb,
    "dicom_folder": series_links_folder,
}
COLLECTION_BUILDERS: dict[str, Callable[[CollectionRecord, Params], list[Link]]] = {
    "idc": collection_links_idc,
}


def series_links(r: SeriesRecord, source_type: str, params: Params | None = None) -> list[Link]:
    """All links of a series hit, by the type of the source it came from."""
    builder = SERIES_BUILDERS.get(source_type)
    if builder is not None:
        return builder(r, params or {})
    generic = [doi(r.identifiers.doi, source_type)] if r.identifiers.doi else []
    return generic + drs(r)


def collection_links(r: CollectionRecord, source_type: str,
                     params: Params | None = None) -> list[Link]:
    builder = COLLECTION_BUILDERS.get(source_type)
    if builder is not None:
        return builder(r, params or {})
    return [doi(d, source_type) for d in r.doi]


def study_links(study_uid: str, modalities: list[str],
                hosts: list[tuple[str, Params]]) -> list[Link]:
    """Links of a study hit: one per hosting platform that can show or serve a study."""
    links = []
    for source_type, params in hosts:
        if source_type == "idc":
            links.append(idc_study_viewer(study_uid, modalities))
        elif source_type == "dicomweb":
            if params.get("viewer"):
                links.append(viewer_template(params["viewer"], study_uid))
            if params.get("wado_rs"):
                links.append(wado_rs(params["wado_rs"], study_uid))
    return links
