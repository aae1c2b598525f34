"""Links back to the host platforms, built at query time from stored identifiers.

Shared platform helpers (DOI resolver, DRS, S3, WADO-RS, a configured viewer) are pure
functions here; each source type composes them into its own builders, declared in its module
and registered in ``imaging_hub.source_types``. The three dispatch functions below
(``series_links``, ``collection_links``, ``study_links``) are what the query layer calls.
A URL scheme change is an edit to a builder, never a reindex.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from imaging_hub import source_types
from imaging_hub.schemas.query import Link
from imaging_hub.schemas.records import CollectionRecord, SeriesRecord

DOI_RESOLVER = "https://doi.org"


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


Params = source_types.Params


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


def policy(url: str, host: str, title: str = "Data usage policy") -> Link:
    """A host's data usage policy, which asks users of its data to cite and link back."""
    return Link(rel="policy", host=host, title=title, href=url)


def folder(path: str) -> Link:
    """A local folder holding a series' files."""
    return Link(rel="files", host="folder", title="Folder holding the series",
                href=Path(path).resolve().as_uri())


def _type(source_type: str) -> source_types.SourceType | None:
    return source_types.registry().get(source_type)


def series_links(r: SeriesRecord, source_type: str, params: Params | None = None) -> list[Link]:
    """All links of a series hit, by the type of the source it came from (a type no longer
    registered gets generic identifier links: DOI and DRS)."""
    known = _type(source_type)
    if known is not None and known.series_links is not None:
        return known.series_links(r, params or {})
    generic = [doi(r.identifiers.doi, source_type)] if r.identifiers.doi else []
    return generic + drs(r)


def collection_links(r: CollectionRecord, source_type: str,
                     params: Params | None = None) -> list[Link]:
    """All links of a collection hit, by its source's type (generic: its DOIs)."""
    known = _type(source_type)
    if known is not None and known.collection_links is not None:
        return known.collection_links(r, params or {})
    return [doi(d, source_type) for d in r.doi]


def study_links(study_uid: str, modalities: list[str],
                hosts: list[tuple[str, Params]]) -> list[Link]:
    """Links of a study hit: one per hosting platform (source type, its link parameters)
    that can show or serve a whole study."""
    links: list[Link] = []
    for source_type, params in hosts:
        known = _type(source_type)
        if known is not None and known.study_links is not None:
            links += known.study_links(study_uid, modalities, params)
    return links
