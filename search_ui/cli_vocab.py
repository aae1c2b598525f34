"""``ihub vocab``: what the vocabulary tables do not map yet (for curators), and the data
dictionary on the command line."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imaging_hub.errors import IhubError
from imaging_hub.indexers import vocab as vocab_tables
from imaging_hub.indexers.vocab import unmapped as unmapped_lists
from imaging_hub.schemas.dictionary import DictionaryResponse
from imaging_hub.search_ui import dictionary
from imaging_hub.search_ui.cli import JsonOpt, _fail, _settings, app, console
from imaging_hub.search_ui.cli_access import ScopeOpt, TokenOpt, cli_caller, guarded_queries

vocab_app = typer.Typer(help="Harmonised vocabularies: unmapped values, the data dictionary.",
                        no_args_is_help=True)
app.add_typer(vocab_app, name="vocab")


@vocab_app.command("unmapped")
def unmapped(
    source: Annotated[str | None, typer.Argument(help="Source (default: every source)")] = None,
    field: Annotated[str | None, typer.Option(help="Only this field (body_part, procedure, "
                                                   "modality, sex, race, ethnicity)")] = None,
    limit: Annotated[int, typer.Option(help="Values per source and field (0: all)")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Raw values no vocabulary table maps, from the newest harvest of each source, most
    frequent first: add them to $IHUB_HOME/vocab/<table>.csv and harvest again."""
    found = unmapped_lists.latest(_settings(), source)
    if field:
        found = [u for u in found if u.field == field]
    shown: list[unmapped_lists.Unmapped] = []
    per: dict[tuple[str, str], int] = {}
    for u in found:
        key = (u.source, u.field)
        per[key] = per.get(key, 0) + 1
        if not limit or per[key] <= limit:
            shown.append(u)
    if as_json:
        sys.stdout.write(json.dumps([u.__dict__ for u in shown], indent=2) + "\n")
        return
    if not found:
        console.print("no unmapped values" + (f" for {source}" if source else "")
                      + " in the latest harmonised runs")
        return
    table = Table("source", "field", "records", "raw value", "run")
    for u in shown:
        table.add_row(u.source, u.field, f"{u.records:,}", u.value, f"{u.run_id} ({u.status})")
    Console().print(table)
    hidden = {k: n - limit for k, n in per.items() if limit and n > limit}
    for (src, fld), n in sorted(hidden.items()):
        console.print(f"{src} {fld}: {n:,} more (--limit 0 lists all)")


def dictionary_document(token: str | None = None, scope: str | None = None,
                        ) -> DictionaryResponse:
    """The data dictionary, asked as the operator (or ``token``'s holder) through the
    access policy; without coverage when the configured store cannot answer."""
    settings = _settings()
    try:
        vocabularies = vocab_tables.load(settings.home)
        caller = cli_caller(settings, token, scope)
    except IhubError as exc:
        _fail(str(exc))
        raise
    try:
        return guarded_queries(settings).dictionary(caller)
    except IhubError as exc:
        console.print(f"[yellow]no coverage in the dictionary:[/yellow] {exc}")
        return dictionary.build(vocabularies, None)


@vocab_app.command("dictionary")
def show_dictionary(as_json: JsonOpt = False, token: TokenOpt = None,
                    scope: ScopeOpt = None) -> None:
    """The data dictionary: fields, vocabularies, coverage per source (as operator, or as
    --token's holder)."""
    doc = dictionary_document(token, scope)
    if as_json:
        sys.stdout.write(doc.model_dump_json(indent=2) + "\n")
        return
    sources = sorted({s for f in doc.fields for s in (f.coverage or {})})
    table = Table("field", "level", "type", "vocabulary", *sources)
    for f in doc.fields:
        if f.kind is None:
            continue
        cells = [f"{c.percent:.1f} %" if (c := (f.coverage or {}).get(s)) else "-"
                 for s in sources]
        table.add_row(f.name, f.level, f.type, f.vocabulary or "", *cells)
    Console().print(table)
    for v in doc.vocabularies:
        Console().print(f"[bold]{v.name}[/bold]: {len(v.entries)} values; tables "
                        + ", ".join(f"{t.table} ({t.rows} rows"
                                    + (f", override {t.override}" if t.override else "") + ")"
                                    for t in v.tables))
