"""``ihub``: harvest, search, count, serve, list sources, export the JSON Schemas."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from imaging_hub.config import Settings
from imaging_hub.errors import IhubError
from imaging_hub.harvest import HeldForApproval, run_harvest
from imaging_hub.indexers import vocab
from imaging_hub.indexers.base import StudyDateWindow
from imaging_hub.schemas.fields import DEFAULT_FACETS
from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.search_ui import cli_counts
from imaging_hub.search_ui.cli_access import ScopeOpt, TokenOpt, cli_caller, guarded_queries
from imaging_hub.search_ui.filters import guppy_filters, parse_filters
from imaging_hub.search_ui.service import QueryService
from imaging_hub.sources import load_sources
from imaging_hub.store.factory import open_store

app = typer.Typer(help="imaging-hub: federated metadata search for medical imaging.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(stderr=True)

FilterOpt = Annotated[list[str] | None, typer.Option(
    "--filter", "-f", help="FIELD=V1,V2 (values OR) or FIELD=LO..HI (range); repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON response.")]
GuppyOpt = Annotated[str | None, typer.Option(
    "--guppy", help="Gen3 Guppy filter JSON (inline or @FILE) instead of --filter.")]


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except IhubError as exc:
        _fail(str(exc))
        raise


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _describe(exc: Exception) -> str:
    """One line per problem for validation errors; the message otherwise."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors())
    return str(exc)


def _service() -> QueryService:
    settings = _settings()
    try:
        return QueryService(open_store(settings), vocab.load(settings.home))
    except IhubError as exc:
        _fail(str(exc))
        raise


@app.command()
def harvest(
    sources: Annotated[list[str] | None, typer.Argument(help="Sources (default: all)")] = None,
    collections: Annotated[str | None, typer.Option(
        help="Comma-separated collection ids to harvest (IDC); overrides sources.toml.")] = None,
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="DICOMweb: only studies dated on/after (incremental).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="DICOMweb: only studies dated on/before.")] = None,
    full: Annotated[bool | None, typer.Option(
        "--full/--incremental",
        help="DICOMweb: reconcile the whole source, or resume from the source's cursor "
        "(default: as planned from the cursor and full_every_days).")] = None,
    allow_drop: Annotated[bool, typer.Option(
        help="Publish even if the record count drops more than the source's max_drop_pct.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Harvest sources into the index; each source is published atomically."""
    settings = _settings()
    window = None
    if since or until:
        window = StudyDateWindow(since.date() if since else None, until.date() if until else None)
        if window.start and window.end and window.start > window.end:
            _fail("--since is after --until")
    try:
        configured = load_sources(settings.sources_file)
    except IhubError as exc:
        _fail(str(exc))
    names = sources or list(configured)
    unknown = [n for n in names if n not in configured]
    if unknown:
        _fail(f"unknown source(s) {', '.join(unknown)}; configured: {', '.join(configured)}")
    wanted = [c.strip() for c in collections.split(",") if c.strip()] if collections else None
    failed = 0
    reports: list[dict[str, Any]] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
            "{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as bar:
        for name in names:
            task = bar.add_task(name, total=1)

            def progress(stage: str, done: int, total: int, task: Any = task) -> None:
                bar.update(task, description=stage, completed=done, total=total)

            try:
                report = run_harvest(settings, name, configured[name], wanted, progress,
                                     window=window, full=full, allow_drop=allow_drop)
            except HeldForApproval as held:
                failed += 1
                reports.append(held.report.model_dump(mode="json"))
                console.print(f"[yellow]{name}: held, not published:[/yellow] {held} — "
                              f"approve with 'ihub approve {name} {held.report.run_id}'")
                continue
            except IhubError as exc:
                failed += 1
                bar.update(task, description=f"[red]{name}: failed")
                console.print(f"[red]{name}: harvest failed, previous index kept:[/red] {exc}")
                continue
            reports.append(report.model_dump(mode="json"))
            rejected = sum(report.rejected.values())
            scope = f" (scope {report.scope})" if report.scope else ""
            console.print(
                f"{name}: published {report.series:,} series{scope}, {report.collections:,} "
                f"collections; added {report.added}, updated {report.updated}, unchanged "
                f"{report.unchanged}, deleted {report.deleted}; rejected {rejected:,} "
                f"{dict(report.rejected) or ''}; warnings {dict(report.warnings) or 'none'}")
    if as_json:  # the published or held runs' reports (failed runs: see 'ihub sources')
        sys.stdout.write(json.dumps(reports, indent=2) + "\n")
    if failed:
        raise typer.Exit(1)


@app.command()
def search(
    text: Annotated[str | None, typer.Argument(help="Words to match")] = None,
    filter: FilterOpt = None,
    facet: Annotated[list[str] | None, typer.Option(help="Facet to count; repeatable.")] = None,
    size: Annotated[int, typer.Option(help="Hits per page.")] = 10,
    level: Annotated[str, typer.Option(
        help="series, study, subject or collection")] = "series",
    after: Annotated[str | None, typer.Option(help="'next' token of a prior page")] = None,
    as_json: JsonOpt = False,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
    guppy: GuppyOpt = None,
) -> None:
    """Search: hits with links, facet counts, totals (as operator, or as --token's holder)."""
    try:
        caller = cli_caller(_settings(), token, scope)
        request = SearchRequest.model_validate({
            "text": text, "level": level, "filters": guppy_filters(guppy, filter) if guppy
            else parse_filters(filter or []),
            "facets": facet if facet is not None else list(DEFAULT_FACETS),
            "page": {"size": size, "after": after}})
        result = guarded_queries(_settings()).search(request, caller)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    out = Console()
    more = result.total.restricted
    out.print(f"[bold]{result.total.count:,}[/bold] matching {result.total.unit} "
              f"(index {result.index.generation})" + (
                  f"; also {cli_counts.part_text(more)} you may count but not list"
                  if more else ""))
    for hit in result.hits:
        d = hit.model_dump()
        label = d.get("series_description") or d.get("name") or ""
        out.print(f"• {d['id']}  {d.get('modality') or ''} {label}")
        for link in d.get("links", [])[:2]:  # subject hits carry none
            # whole on one line (not wrapped at the terminal's width), never read as markup
            out.print(f"    {link['rel']}: {link['href']}", soft_wrap=True, markup=False,
                      highlight=False)
    for name, buckets in result.facets.items():
        out.print(f"[bold]{name}[/bold]: " + ", ".join(
            f"{b.value} ({cli_counts.number(b)})" for b in buckets[:8]))
    if result.next:
        out.print(f"next page: --after {result.next}")


@app.command()
def count(
    text: Annotated[str | None, typer.Argument(help="Words to match")] = None,
    filter: FilterOpt = None,
    as_json: JsonOpt = False,
    token: TokenOpt = None,
    scope: ScopeOpt = None,
    guppy: GuppyOpt = None,
) -> None:
    """Exact cohort counts: subjects, studies, series, instances, bytes (as operator, or as
    --token's holder)."""
    try:
        caller = cli_caller(_settings(), token, scope)
        query = CohortQuery.model_validate({"text": text, "filters": guppy_filters(
            guppy, filter) if guppy else parse_filters(filter or [])})
        result = guarded_queries(_settings()).count(query, caller)
    except (IhubError, ValueError) as exc:
        _fail(_describe(exc))
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    table = Table("scope", "subjects", "studies", "series", "instances", "GB")
    rows = [("all", result)] + [(f"source {k}", v) for k, v in result.by_source.items()]
    for name, b in rows:
        table.add_row(name, *(cli_counts.number(v) for v in (
            b.subjects, b.studies, b.series, b.instances)),
            cli_counts.number(b.bytes, 1e9, 1))
    Console().print(table)
    values = [getattr(b, k) for _, b in rows for k in ("subjects", "studies", "series")]
    Console().print(f"{len(result.by_collection)} collections; " + (
        cli_counts.LEGEND if cli_counts.protected(values) else "all counts exact")
        + f" (index {result.index.generation})")
    if result.estimated_additional is not None:
        for line in cli_counts.estimate_lines(result.estimated_additional):
            Console().print(line, markup=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(
        min=1, max=64, help="Worker processes (each opens the store itself; use the cores)")
    ] = 1,
) -> None:
    """Serve the HTTP API and the web UI."""
    import uvicorn

    from imaging_hub.search_ui.api import create_app

    console.print(f"serving http://{host}:{port}  (API docs: http://{host}:{port}/docs)"
                  + (f" with {workers} worker processes" if workers > 1 else ""))
    if workers > 1:
        _service()  # fail here, with one message, if the configuration is wrong
        uvicorn.run("imaging_hub.search_ui.api:app_from_env", factory=True, host=host,
                    port=port, workers=workers, log_level="warning")
        return
    uvicorn.run(create_app(_service().store, _settings()), host=host, port=port,
                log_level="warning")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option(help="Directory to write *.schema.json")] = None,
) -> None:
    """Export the JSON Schemas of records, queries and responses (the data dictionary's
    among them); with --out also the data dictionary itself (data-dictionary.json)."""
    from imaging_hub.schemas.export import all_schemas
    from imaging_hub.search_ui.cli_vocab import dictionary_document

    schemas = all_schemas()
    if out is None:
        sys.stdout.write(json.dumps(schemas, indent=2) + "\n")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, body in schemas.items():
        (out / f"{name}.schema.json").write_text(json.dumps(body, indent=2) + "\n")
    (out / "data-dictionary.json").write_text(dictionary_document().model_dump_json(indent=2))
    console.print(f"wrote {len(schemas)} schemas and data-dictionary.json to {out}")


from imaging_hub.search_ui import cli_export, cli_ops, cli_tokens  # noqa: E402,F401  (registers commands)
