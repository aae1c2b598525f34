"""The export formats: how a stream of series hits (with their links) becomes a file a tool
reads. One class per format, each writing text: ``begin`` (before the first series),
``entries`` (per series: its lines, or the reason it cannot be listed) and ``end`` (after
the last one, with the export's summary).

Formats were checked against the tools that read them:

* ``s5cmd``: ``cp s3://<bucket>/<crdc_series_uuid>/* .`` per series, as IDC's portal writes
  its manifests; ``s5cmd run`` (peak/s5cmd command/run.go) and idc-index's
  ``download_from_manifest`` (pandas, ``comment="#"``) both skip lines starting with ``#``,
  so the header and the citations are comment lines.
* ``gen3``: a JSON list of objects with ``object_id`` (the GUID), as gen3-client
  ``download-multiple`` (``ManifestObject{object_id, subject_id}``) and gen3sdk's
  ``Manifest`` (extra keys excluded) read it.
* ``tcia``: the NBIA Data Retriever's ``.tcia`` manifest: six ``key=value`` header lines
  ending with ``ListOfSeriesToDownload=``, then one SeriesInstanceUID per line and nothing
  else (TCIA's own tcia_utils drops exactly six header lines), so no comments.
* ``dicomweb``: CSV of source, WADO-RS root, study and series UIDs and the series' WADO-RS
  URL (``{root}/studies/{study}/series/{series}``, what DICOMweb clients retrieve).
* ``csv``, ``tsv``, ``jsonl``: the search page's columns, one row per series.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from imaging_hub import source_types
from imaging_hub.schemas.manifests import ExportSummary
from imaging_hub.schemas.query import SeriesHit, SourceVersion
from imaging_hub.search_ui import links

COLUMNS = ("id", "source", "collection", "subject_id", "sex", "age", "age_raw", "study_uid",
           "study_date", "study_description", "series_uid", "modality", "body_part",
           "series_description", "manufacturer", "instances", "size_bytes", "doi", "drs_uri",
           "s3_url", "viewer_url", "license", "access", "commercial_use", "hosts", "links")
TCIA_DOWNLOAD_SERVER = "https://nbia.cancerimagingarchive.net/nbia-download/servlet/DownloadServlet"
DICOMWEB_COLUMNS = ("source", "wado_rs_root", "study_uid", "series_uid", "url")
_COMPACT_DRS = re.compile(r"^drs://([A-Za-z0-9._-]+):([^/]+)$")
_HOSTNAME_DRS = re.compile(r"^drs://[^/:]+/(.+)$")
Hosts = Mapping[str, SourceVersion]


def table_row(hit: SeriesHit) -> dict[str, Any]:
    """The page's export columns for one series (links: every link with its host)."""
    def link(rel: str) -> str | None:
        return next((x.href for x in hit.links if x.rel == rel), None)

    ids, access = hit.identifiers, hit.access
    return {
        "id": hit.id, "source": hit.source, "collection": hit.collection,
        "subject_id": hit.subject_id, "sex": hit.sex, "age": hit.age, "age_raw": hit.age_raw,
        "study_uid": ids.study_uid,
        "study_date": hit.study_date.isoformat() if hit.study_date else None,
        "study_description": hit.study_description, "series_uid": ids.series_uid,
        "modality": hit.modality, "body_part": hit.body_part,
        "series_description": hit.series_description, "manufacturer": hit.manufacturer,
        "instances": hit.instances, "size_bytes": hit.size_bytes, "doi": ids.doi,
        "drs_uri": ids.drs_uri, "s3_url": link("download"), "viewer_url": link("viewer"),
        "license": access.license, "access": access.tier,
        "commercial_use": access.commercial_use, "hosts": list(hit.hosts),
        "links": [{"host": x.host, "rel": x.rel, "href": x.href} for x in hit.links]}


def _cell(value: Any) -> str:
    """A value as a csv/tsv cell: lists of hosts space-separated, links 'host rel href'
    joined by ' | ' (the page's CSV), booleans lower-case, missing empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return " | ".join(f"{x['host']} {x['rel']} {x['href']}" for x in value)
        return " ".join(str(v) for v in value)
    return str(value)


def guid(hit: SeriesHit) -> str | None:
    """The series' GUID for Gen3 tools: the source's object id, or the DRS URI read back
    (``drs://dg.4DFC:<uuid>`` -> ``dg.4DFC/<uuid>``; ``drs://host/<guid>`` -> ``<guid>``)."""
    ids = hit.identifiers
    if ids.source_native.get("object_id"):
        return ids.source_native["object_id"]
    uri = ids.drs_uri or ""
    match = _COMPACT_DRS.match(uri) or _HOSTNAME_DRS.match(uri)
    if match is None:
        return None
    return "/".join(match.groups())


def _comment(text: str) -> str:
    return "# " + " ".join(text.split()) + "\n"


class Format:
    """A manifest format; subclasses write its parts."""

    name = ""
    media_type = "text/plain; charset=utf-8"
    extension = "txt"
    carries_citations = False  # whether the file itself says how to cite what it holds

    def __init__(self, hosts: Hosts, generation: str, query_json: str) -> None:
        self.hosts = hosts
        self.generation = generation
        self.query_json = query_json

    def begin(self) -> str:
        return ""

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        """Lines for one series, or ([], reason) when the format cannot list it."""
        raise NotImplementedError

    def end(self, summary: ExportSummary) -> str:
        return ""

    def error(self, message: str) -> str:
        """A last line saying the export broke off, where the format has room for one."""
        return ""


class Csv(Format):
    name, media_type, extension = "csv", "text/csv; charset=utf-8", "csv"

    def __init__(self, hosts: Hosts, generation: str, query_json: str) -> None:
        super().__init__(hosts, generation, query_json)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def _line(self, cells: list[str]) -> str:
        self._writer.writerow(cells)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def begin(self) -> str:
        return self._line(list(COLUMNS))

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        row = table_row(hit)
        return [self._line([_cell(row[c]) for c in COLUMNS])], None


class Tsv(Format):
    """IANA text/tab-separated-values: no tabs or line breaks inside a field (replaced by
    spaces), no quoting."""

    name, media_type, extension = "tsv", "text/tab-separated-values; charset=utf-8", "tsv"

    @staticmethod
    def _line(cells: list[str]) -> str:
        return "\t".join(re.sub(r"[\t\r\n]+", " ", c) for c in cells) + "\n"

    def begin(self) -> str:
        return self._line(list(COLUMNS))

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        row = table_row(hit)
        return [self._line([_cell(row[c]) for c in COLUMNS])], None


class Jsonl(Format):
    name, media_type, extension = "jsonl", "application/x-ndjson", "jsonl"
    carries_citations = True

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        return [json.dumps(table_row(hit), ensure_ascii=False) + "\n"], None

    def end(self, summary: ExportSummary) -> str:
        return json.dumps({"_export": summary.model_dump(mode="json")},
                          ensure_ascii=False) + "\n"

    def error(self, message: str) -> str:
        return json.dumps({"_error": message}, ensure_ascii=False) + "\n"


class S5cmd(Format):
    name, extension = "s5cmd", "s5cmd"
    carries_citations = True

    def begin(self) -> str:
        return "".join(_comment(t) for t in (
            f"imaging-hub export, index generation {self.generation}",
            f"query: {self.query_json}",
            "To download the series in this manifest, install s5cmd "
            "(https://github.com/peak/s5cmd) and run:",
            "s5cmd --no-sign-request --endpoint-url https://s3.amazonaws.com run "
            "THIS_FILE")) + "#\n"

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        url = next((x.href for x in hit.links
                    if x.rel == "download" and x.href.startswith("s3://")), None)
        if url is None or any(c.isspace() or c in "\"'" for c in url):
            return [], "no_s3_location"
        return [f"cp {url} .\n"], None

    def end(self, summary: ExportSummary) -> str:
        lines = [f"{summary.written} series listed of {summary.matched} matching"]
        lines += [f"not listed: {n} ({why})" for why, n in sorted(summary.skipped.items())]
        lines += citation_lines(summary)
        return "#\n" + "".join(_comment(t) for t in lines)

    def error(self, message: str) -> str:
        return _comment(f"ERROR: {message}")


def citation_lines(summary: ExportSummary) -> list[str]:
    """Plain-text lines saying how to cite every collection and which usage policies
    apply."""
    out = ["Please cite the collections these series come from:"]
    for c in summary.citations:
        doi = ", ".join(f"https://doi.org/{d}" for d in c.doi)
        text = c.citation or "(no citation text recorded: cite the DOI)"
        out.append(f"{c.source}/{c.collection} ({c.series} series): {text}"
                   + (f" DOI: {doi}" if doi and (not c.citation or doi not in c.citation)
                      else ""))
    out += [f"{p.host} asks users of its data to follow its data usage policy: {p.url}"
            for p in summary.usage_policies]
    return out


class Gen3(Format):
    name, media_type, extension = "gen3", "application/json", "json"

    def __init__(self, hosts: Hosts, generation: str, query_json: str) -> None:
        super().__init__(hosts, generation, query_json)
        self._first = True

    def begin(self) -> str:
        return "["

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        object_id = guid(hit)
        if object_id is None:
            return [], "no_guid"
        entry: dict[str, Any] = {"object_id": object_id, "subject_id": hit.subject_id,
                                 "series_uid": hit.identifiers.series_uid,
                                 "study_uid": hit.identifiers.study_uid,
                                 "source": hit.source, "collection": hit.collection}
        host = self.hosts.get(hit.source)
        if host is not None and host.links.get("commons_host"):
            entry["commons_url"] = host.links["commons_host"]
        sep, self._first = ("\n" if self._first else ",\n"), False
        return [sep + json.dumps(entry, ensure_ascii=False)], None

    def end(self, summary: ExportSummary) -> str:
        return "\n]\n"


def _source_type(host: SourceVersion | None) -> str:
    return host.type if host is not None else ""


class Tcia(Format):
    name, extension = "tcia", "tcia"

    def begin(self) -> str:
        basket = f"manifest-{int(datetime.now(UTC).timestamp() * 1000)}.tcia"
        return (f"downloadServerUrl={TCIA_DOWNLOAD_SERVER}\nincludeAnnotation=true\n"
                f"noOfrRetry=4\ndatabasketId={basket}\nmanifestVersion=3.0\n"
                "ListOfSeriesToDownload=\n")

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        at_tcia = any(_source_type(self.hosts.get(h)) == "tcia" for h in hit.hosts)
        uid = hit.identifiers.series_uid
        if not at_tcia or not uid:
            return [], "not_at_tcia"
        return [uid + "\n"], None


class Dicomweb(Csv):
    name, extension = "dicomweb", "csv"

    def begin(self) -> str:
        return self._line(list(DICOMWEB_COLUMNS))

    def entries(self, hit: SeriesHit) -> tuple[list[str], str | None]:
        ids = hit.identifiers
        out = []
        for name in hit.hosts:
            host = self.hosts.get(name)
            root = host.links.get("wado_rs") if host is not None else None
            if root and ids.study_uid and ids.series_uid:
                url = links.wado_rs(root, ids.study_uid, ids.series_uid).href
                out.append(self._line([name, root.rstrip("/"), ids.study_uid,
                                       ids.series_uid, url]))
        return (out, None) if out else ([], "no_dicomweb_host")


FORMATS: dict[str, type[Format]] = {f.name: f for f in (Csv, Tsv, Jsonl, S5cmd, Gen3, Tcia,
                                                        Dicomweb)}


def usage_policy(host: SourceVersion) -> str | None:
    """The data usage policy URL of a host that asks for one (its link parameters', or
    its source type's)."""
    if host.links.get("policy"):
        return host.links["policy"]
    known = source_types.registry().get(host.type)
    return known.usage_policy_url if known is not None else None
