"""``ihub export`` and ``ihub cohort save|show|export``: manifests without a row cap, and
saved cohorts pinned to the index generation, from the command line.

The manifest goes to stdout (or ``--out``), byte for byte what ``POST /api/v1/export``
streams; a one-line summary and how to cite the collections go to stderr, and
``--citations FILE`` writes them as Markdown. Like ``ihub search``, these act as the operator
(scope ``open,registration,controlled``) unless ``--scope`` or ``--token`` says otherwise,
and they are audited.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from imaging_hub.audit import AuditLog
from imaging_hub.errors import IhubError
from imaging_hub.schemas.manifests import (
    EXPORT_FORMATS,
    CohortInfo,
    CohortSaveRequest,
    ExportOptions,
    ExportRequest,
)
from imaging_hub.search_ui.cli import (
    FilterOpt,
    GuppyOpt,
    JsonOpt,
    _describe,
    _fail,
    _settings,
    app,
    console,
)
from imaging_hub.search_ui.cli_access import ScopeOpt, TokenOpt, cli_caller
from imaging_hub.search_ui.export_service import ExportService
from imaging_hub.search_ui.exports import Export, citation_markdown
from imaging_hub.search_ui.filters import guppy_filters, parse_filters
from imaging_hub.store.factory import open_store

cohort_app = typer.Typer(help="Saved cohorts: save (pinned to the index generation), show "
                         "(and what changed since), export.", no_args_is_help=True)
app.add_typer(cohort_app, name="cohort")

FormatOpt = Annotated[str, typer.Option(
    "--format", help=f"One of {', '.join(EXPORT_FORMATS)}.")]
BundleOpt = Annotated[bool, typer.Option(
    "--bundle", help="A zip with the manifest, CITATION.md and export.json.")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")]
CitationsOpt = Annotated[Path | None, typer.Option(
    "--citations", help="Also write how to cite the exported collections (Markdown).")]


def _service() -> ExportService:
    settings = _settings()
    return ExportService(open_store(settings), AuditLog(settings.audit_dir),
                         settings.cohorts_dir)


def _query(text: str | None, filter: list[str] | None, guppy: str | None) -> dict[str, object]:
    filters = guppy_filters(guppy, filter) if guppy else parse_filters(filter or [])
    return {"text": text, "filters": filters}


def _write(export: Export, out: Path | None, citations: Path | None) -> None:
    """Stream the export to ``out`` (stdout by default); summary and citations after."""
    sink: BinaryIO
    with (open(out, "wb") if out else open(sys.stdout.fileno(), "wb", closefd=False)) as sink:
        for chunk in export.body():
            sink.write(chunk)
    summary = export.summary
    if summary is None:  # pragma: no cover - body() always sets it when it completes
        return
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(summary.skipped.items()))
    console.print(f"exported {summary.written:,} entries of {summary.matched:,} matching "
                  f"series (index {summary.generation})" + (f"; not listed: {skipped}"
                                                            if skipped else ""))
    cited = ", ".join(f"{c.source}/{c.collection}" for c in summary.citations)
    if cited:
        console.print(f"please cite: {cited}" + ("" if citations or export.bundle or
                      export.format.carries_citations else " (--citations FILE writes "
                      "the citations)"))
    if citations:
        citations.write_text(citation_markdown(summary))


@app.command()
def export(
    text: Annotated[str | None, typer.Argument(help="Words to match")] = None,
    format: FormatOpt = "csv",
    filter: FilterOpt = None,
    guppy: GuppyOpt = None,
    bundle: BundleOpt = False,
    out: OutOpt = None,
    citations: CitationsOpt = None,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """Every matching series (no cap) as a manifest: csv, tsv, jsonl, s5cmd, gen3, tcia,
    dicomweb."""
    try:
        caller = cli_caller(_settings(), token, scope)
        request = ExportRequest.model_validate({**_query(text, filter, guppy),
                                                "format": format, "bundle": bundle})
        job = _service().export(request, caller)
        _write(job, out, citations)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))


def _show(info: CohortInfo, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(info.model_dump_json(indent=2) + "\n")
        return
    sys.stdout.write(f"{info.id}\n")
    console.print(f"cohort {info.name!r}: {info.members:,} series saved from index "
                  f"{info.generation} ({info.members_available:,} still available); "
                  f"scope {info.scope}")
    c = info.changes
    if c is not None:
        console.print(f"on index {c.generation} the definition selects {c.members_now:,}: "
                      f"{c.added.count:,} added, {c.removed.count:,} removed "
                      f"({c.gone.count:,} of them no longer in the index)")


@cohort_app.command("save")
def save(
    name: Annotated[str, typer.Argument(help="What you call the cohort")],
    text: Annotated[str | None, typer.Argument(help="Words to match")] = None,
    filter: FilterOpt = None,
    guppy: GuppyOpt = None,
    as_json: JsonOpt = False,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """Save the series the search selects now; prints the cohort's id (stdout)."""
    try:
        caller = cli_caller(_settings(), token, scope)
        request = CohortSaveRequest.model_validate({**_query(text, filter, guppy),
                                                    "name": name})
        _show(_service().save_cohort(request, caller), as_json)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))


@cohort_app.command("show")
def show(
    cohort_id: Annotated[str, typer.Argument(help="The cohort's id")],
    as_json: JsonOpt = False,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """A saved cohort: definition, generation, members, and what changed since."""
    try:
        caller = cli_caller(_settings(), token, scope)
        _show(_service().cohort(cohort_id, caller), as_json)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))


@cohort_app.command("export")
def export_cohort(
    cohort_id: Annotated[str, typer.Argument(help="The cohort's id")],
    format: FormatOpt = "csv",
    bundle: BundleOpt = False,
    out: OutOpt = None,
    citations: CitationsOpt = None,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """The cohort's saved members still in the index, as a manifest."""
    try:
        caller = cli_caller(_settings(), token, scope)
        options = ExportOptions.model_validate({"format": format, "bundle": bundle})
        _write(_service().export_cohort(cohort_id, options, caller), out, citations)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))
