"""Dagster assets, checks, schedules and sensors, materialised in-process on real sources
(an IDC slice, a DICOM folder) and an HTTP-level DICOMweb fake."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from pydicom.data import get_testdata_file

from imaging_hub.config import Settings
from imaging_hub.orchestration.definitions import build
from imaging_hub.orchestration.resources import IhubResource
from imaging_hub.runs import last_runs
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.sources import load_sources
from imaging_hub.store.embedded import EmbeddedStore
from tests.qido_server import Behaviour, qido_server, series, study

SLICE = ["ct_lymph_nodes", "tcga_chol"]


def make_home(tmp: Path, dicomweb_url: str | None = None, **extra: str) -> Path:
    home = tmp / "home"
    folder = tmp / "folder"
    folder.mkdir(parents=True)
    for name in ("CT_small.dcm", "MR_small.dcm", "rtdose.dcm"):
        shutil.copy(get_testdata_file(name), folder / name)  # type: ignore[arg-type]
    lines = ["[sources.idc]", 'type = "idc"', f"collections = {json.dumps(SLICE)}",
             "[sources.folder]", 'type = "dicom_folder"', f'path = "{folder}"',
             *[f"{k} = {v}" for k, v in extra.items()]]
    if dicomweb_url:
        lines += ["[sources.pacs]", 'type = "dicomweb"', f'url = "{dicomweb_url}"',
                  "max_attempts = 2", "read_timeout = 2"]
    home.mkdir()
    (home / "sources.toml").write_text("\n".join(lines) + "\n")
    return home


def definitions(home: Path) -> tuple[dg.Definitions, IhubResource]:
    ihub = IhubResource(home=str(home))
    return build(load_sources(home / "sources.toml"), ihub), ihub


def materialize(defs: dg.Definitions, ihub: IhubResource, keys: list[list[str]],
                run_config: dict[str, object] | None = None,
                raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    wanted = {dg.AssetKey(k) for k in keys}
    assets = [a for a in defs.assets if a.key in wanted]  # type: ignore[union-attr]
    return dg.materialize(assets, resources={"ihub": ihub}, run_config=run_config,
                          raise_on_error=raise_on_error)


def counts(home: Path, source: str) -> int:
    store = EmbeddedStore(Settings(home=home).index_dir)
    return store.count(CohortQuery.model_validate({"filters": {"source": [source]}})).series.count


def test_every_source_is_harvested_checked_and_published(tmp_path: Path) -> None:
    b = Behaviour(studies=[study("1.9.1", "P1")], series={"1.9.1": [series("1.9.1.1")]})
    with qido_server(b) as url:
        home = make_home(tmp_path, url)
        defs, ihub = definitions(home)
        result = materialize(defs, ihub, [[g, s] for g in ("harvest", "index")
                                          for s in ("idc", "folder", "pacs")])
    assert result.success
    assert counts(home, "pacs") == 1 and counts(home, "folder") == 3
    idc = result.asset_materializations_for_node("index__idc")[0].metadata
    assert idc["added"].value == counts(home, "idc") > 100
    assert idc["deleted"].value == 0
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == {"record_count_drop"} and all(
        c.passed for c in checks)
    assert {r.status for r in last_runs(Settings(home=home)).values()} == {"published"}


def test_a_large_drop_is_held_until_approved(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    defs, ihub = definitions(home)
    assert materialize(defs, ihub, [["harvest", "idc"], ["index", "idc"]]).success
    before = counts(home, "idc")
    smaller = {"ops": {"harvest__idc": {"config": {"collections": ["tcga_chol"]}}}}
    result = materialize(defs, ihub, [["harvest", "idc"], ["index", "idc"]], smaller,
                         raise_on_error=False)
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and "dropped" in str(check.metadata["problem"].value)
    assert not result.asset_materializations_for_node("index__idc")  # blocked
    assert counts(home, "idc") == before
    assert last_runs(Settings(home=home))["idc"].status == "held"
    refused = materialize(defs, ihub, [["index", "idc"]], raise_on_error=False)
    assert not refused.success and counts(home, "idc") == before
    approved = materialize(defs, ihub, [["index", "idc"]],
                           {"ops": {"index__idc": {"config": {"approve_held": True}}}})
    assert approved.success and 0 < counts(home, "idc") < before


def test_source_answering_5xx_keeps_the_last_good_records(tmp_path: Path) -> None:
    b = Behaviour(studies=[study("1.9.1", "P1"), study("1.9.2", "P2")],
                  series={"1.9.1": [series("1.9.1.1")], "1.9.2": [series("1.9.2.1")]})
    with qido_server(b) as url:
        home = make_home(tmp_path, url)
        defs, ihub = definitions(home)
        keys = [["harvest", "pacs"], ["index", "pacs"]]
        assert materialize(defs, ihub, keys).success
        b.fail_first = 100  # the server answers 503 for a while
        b.studies.append(study("1.9.3", "P3"))
        b.series["1.9.3"] = [series("1.9.3.1")]
        failed = materialize(defs, ihub, keys, raise_on_error=False)
        assert not failed.success and counts(home, "pacs") == 2
        assert last_runs(Settings(home=home))["pacs"].status == "failed"
        b.fail_first = 0
        full = {"ops": {"harvest__pacs": {"config": {"full": True}}}}
        assert materialize(defs, ihub, keys, full).success
    assert counts(home, "pacs") == 3
    assert last_runs(Settings(home=home))["pacs"].added == 1


def test_schedules_follow_the_config_and_defaults(tmp_path: Path) -> None:
    home = make_home(tmp_path, schedule='"15 4 * * *"')
    defs, _ = definitions(home)
    crons = {s.name: s.cron_schedule for s in defs.schedules}  # type: ignore[union-attr]
    assert crons == {"idc_schedule": "0 3 * * 1", "folder_schedule": "15 4 * * *"}
    schedule = next(s for s in defs.schedules if s.name == "idc_schedule")  # type: ignore[union-attr]
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance)
        data = schedule.evaluate_tick(context)  # type: ignore[union-attr]
    assert [r.job_name for r in data.run_requests or []] in ([None], ["harvest_idc"])
    assert schedule.job_name == "harvest_idc"  # type: ignore[union-attr]


def test_freshness_sensor_requests_stale_sources(tmp_path: Path) -> None:
    home = make_home(tmp_path, max_age_hours="0.0001")  # applies to the folder source
    defs, ihub = definitions(home)
    sensor = defs.sensors[0]  # type: ignore[index]
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, resources={"ihub": ihub}))
        assert {r.job_name for r in first.run_requests} == {"harvest_idc", "harvest_folder"}
        materialize(defs, ihub, [[g, s] for g in ("harvest", "index") for s in ("idc", "folder")])
        later = sensor(dg.build_sensor_context(instance=instance, resources={"ihub": ihub}))
    assert [r.job_name for r in later.run_requests] == ["harvest_folder"]  # idc is fresh
    assert later.run_requests[0].tags["ihub/reason"] == "stale"


def test_definitions_read_nothing_at_import(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import imaging_hub.orchestration.definitions as module

    monkeypatch.setenv("IHUB_HOME", str(tmp_path / "missing"))  # no sources.toml: IDC alone
    importlib.reload(module)
    defs = module.defs()
    assert [a.key.to_user_string() for a in defs.assets] == ["harvest/idc", "index/idc"]  # type: ignore[union-attr]
