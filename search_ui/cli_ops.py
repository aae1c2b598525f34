"""Operator commands of ``ihub``: sources (freshness, last runs), approve, orchestrate."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from imaging_hub.errors import IhubError
from imaging_hub.harvest import approve as approve_run
from imaging_hub.runs import last_runs
from imaging_hub.search_ui.cli import JsonOpt, _fail, _settings, app, console
from imaging_hub.sources import load_sources, max_age, schedule_of
from imaging_hub.store.factory import open_store


def source_rows() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per configured source: schedule, published state, freshness, last run; and the
    index store's health."""
    settings = _settings()
    try:
        configured = load_sources(settings.sources_file)
        listing = open_store(settings).sources()
    except IhubError as exc:
        _fail(str(exc))
    published = {s.source: s for s in listing.sources}
    runs = last_runs(settings)
    now = datetime.now(UTC)
    rows = []
    for name, cfg in configured.items():
        pub, run = published.get(name), runs.get(name)
        age_h = None
        if pub:
            age_h = (now - datetime.fromisoformat(pub.harvested_at)).total_seconds() / 3600
        rows.append({
            "source": name, "type": cfg.type, "schedule": schedule_of(cfg),
            "max_age_hours": max_age(cfg), "age_hours": None if age_h is None else round(
                age_h, 2),
            "stale": pub is None or (age_h is not None and age_h > max_age(cfg)),
            "published": pub.model_dump() if pub else None,
            "last_run": run.model_dump(mode="json") if run else None,
        })
    backend = listing.backend.model_dump() if listing.backend else {}
    return rows, backend


@app.command()
def sources(as_json: JsonOpt = False) -> None:
    """Configured sources: schedule, freshness, published version and counts, last run."""
    rows, backend = source_rows()
    if as_json:
        # a list of sources, as always; each names the index store and its health
        sys.stdout.write(json.dumps([{**r, "index_store": backend} for r in rows], indent=2)
                         + "\n")
        return
    table = Table("source", "type", "schedule", "published version", "age", "series",
                  "rejected", "last run")
    for r in rows:
        pub, run = r["published"], r["last_run"]
        age = "never" if r["age_hours"] is None else f"{r['age_hours']:.1f} h"
        if r["stale"]:
            age = f"[red]{age} (stale)[/red]"
        last = "-"
        if run:
            last = f"{run['status']} {run['run_id']}"
            if run.get("added") is not None:
                last += (f" +{run['added']} ~{run['updated']} ={run['unchanged']} "
                         f"-{run['deleted']}")
            if run.get("error"):
                last += f": {run['error'][:80]}"
        table.add_row(r["source"], r["type"], r["schedule"], pub["version"] if pub else "-",
                      age, f"{pub['series']:,}" if pub else "-",
                      str(sum(pub["rejected"].values())) if pub else "-", last)
    Console().print(table)
    state = backend.get("status", "unknown")
    colour = {"ok": "green", "degraded": "yellow"}.get(state, "red")
    extra = ", ".join(f"{k} {backend[k]}" for k in ("generation", "nodes", "detail")
                      if backend.get(k) is not None)
    Console().print(f"index store: {backend.get('backend', '?')} [{colour}]{state}[/{colour}]"
                    + (f" ({extra})" if extra else ""))


@app.command()
def approve(
    source: Annotated[str, typer.Argument(help="Source whose held harvest to publish")],
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: newest staged)")] = None,
) -> None:
    """Publish a harvest that a check held (e.g. a large record-count drop)."""
    try:
        report = approve_run(_settings(), source, run_id)
    except IhubError as exc:
        _fail(str(exc))
    console.print(f"{source}: published run {report.run_id}: {report.series:,} series")


@app.command()
def orchestrate(
    port: Annotated[int, typer.Option(help="Dagster webserver port")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
) -> None:
    """Dagster webserver + daemon (schedules, sensors) on 127.0.0.1; state under IHUB_HOME."""
    settings = _settings()
    dagster_home = os.environ.get("DAGSTER_HOME") or str(settings.home / "dagster")
    os.makedirs(dagster_home, exist_ok=True)
    from imaging_hub.orchestration.instance import write_instance_yaml

    write_instance_yaml(dagster_home)
    env = {**os.environ, "DAGSTER_HOME": dagster_home, "IHUB_HOME": str(settings.home)}
    bin_dir = os.path.dirname(sys.executable)
    module = "imaging_hub.orchestration.definitions"
    from imaging_hub.orchestration.processes import Supervisor

    # SIGTERM/SIGINT stop the webserver, the daemon and all they started (code servers, runs)
    with Supervisor(env) as procs:
        # create/upgrade Dagster's storage once, before webserver, daemon and code server all
        # start on it (concurrent first-time schema creation on SQLite races)
        procs.start("dagster instance migrate",
                    [os.path.join(bin_dir, "dagster"), "instance", "migrate"], quiet=True)
        migrated = procs.wait_for("dagster instance migrate")
        if migrated:
            _fail(f"dagster instance migrate exited with {migrated} (DAGSTER_HOME={dagster_home})")
        ended = None
        if procs.signalled is None:
            procs.start("dagster-daemon",
                        [os.path.join(bin_dir, "dagster-daemon"), "run", "-m", module])
            procs.start("dagster-webserver", [os.path.join(bin_dir, "dagster-webserver"), "-m",
                                              module, "-h", host, "-p", str(port)])
            console.print(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={dagster_home})")
            ended = procs.wait_any()
            if ended:
                console.print(f"[red]{ended[0]} exited with {ended[1]}; stopping the rest[/red]")
    if procs.signalled is not None:
        raise typer.Exit(128 + procs.signalled)
    raise typer.Exit(1 if ended else 0)


from imaging_hub.search_ui import cli_vocab  # noqa: E402,F401  (registers 'ihub vocab')
