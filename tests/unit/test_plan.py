from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from imaging_hub.config import Settings
from imaging_hub.harvest import plan
from imaging_hub.indexers.dicomweb import DicomwebSource
from imaging_hub.indexers.idc import IdcSource
from imaging_hub.runs import Cursor

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def pacs(**extra: object) -> DicomwebSource:
    return DicomwebSource.model_validate({"type": "dicomweb", "url": "http://h/dw", **extra})


def test_first_run_and_non_dicomweb_sources_are_full(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert plan(settings, "pacs", pacs(), NOW).full
    assert plan(settings, "idc", IdcSource.model_validate({}), NOW).full


def test_incremental_window_resumes_from_the_cursor_with_overlap(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    Cursor(watermark=date(2026, 11, 20), last_full=NOW - timedelta(days=2)).save(
        settings, "pacs")
    chosen = plan(settings, "pacs", pacs(), NOW)
    assert not chosen.full and chosen.window is not None
    assert chosen.window.start == date(2026, 11, 19) and chosen.window.end is None
    wider = plan(settings, "pacs", pacs(incremental_days=30), NOW)
    assert wider.window is not None and wider.window.start == date(2026, 10, 23)


def test_a_full_pass_comes_round_every_full_every_days(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    Cursor(watermark=date(2026, 11, 20), last_full=NOW - timedelta(days=8)).save(
        settings, "pacs")
    assert plan(settings, "pacs", pacs(), NOW).full
    assert not plan(settings, "pacs", pacs(full_every_days=10), NOW).full
