"""The DICOMweb connector against misbehaving servers, at the HTTP boundary."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from imaging_hub.config import Settings
from imaging_hub.errors import SourceFormatError, SourceUnavailable
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.base import StudyDateWindow
from imaging_hub.indexers.dicomweb import DicomwebIndexer, DicomwebSource, QidoClient
from imaging_hub.indexers.http import HttpSettings, build_client
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.sources import build_indexer
from imaging_hub.store.embedded import EmbeddedStore
from tests.qido_server import Behaviour, qido_server, series, study

FAST = HttpSettings(connect_timeout=1, read_timeout=2, max_attempts=3, backoff_base=0.01)


def archive(n_studies: int = 10, per_study: int = 2) -> Behaviour:
    b = Behaviour()
    for i in range(n_studies):
        uid = f"1.2.3.{i}"
        b.studies.append(study(uid, f"P{i % 4}", date=f"202401{i + 1:02d}"))
        b.series[uid] = [series(f"{uid}.{j}", instances=j + 1) for j in range(per_study)]
    return b


def harvest(url: str, page_size: int = 4, settings: HttpSettings = FAST,
            window: StudyDateWindow | None = None):  # type: ignore[no-untyped-def]
    qido = QidoClient(build_client(url, settings=settings), page_size, settings)
    return DicomwebIndexer(name="pacs", qido=qido, concurrency=3, window=window).harvest("r")


@pytest.mark.parametrize(
    "quirk", [{}, {"cap": 3}, {"ignore_limit": True}, {"ignore_limit": True, "cap": 7}],
    ids=["plain", "capped-pages", "ignores-limit", "ignores-limit-capped"])
def test_paging_collects_every_series_once(quirk: dict[str, object]) -> None:
    b = archive()
    for k, v in quirk.items():
        setattr(b, k, v)
    with qido_server(b) as url:
        result = harvest(url)
    uids = result.series.column("series_uid").to_pylist()
    assert len(uids) == len(set(uids)) == 20
    assert sum(result.series.column("instances").to_pylist()) == 10 * (1 + 2)
    assert result.report.rejected == {}


def test_entries_a_later_page_lists_again_are_kept_once() -> None:
    """A server whose order shifts between requests lists the last entries of a page again
    at the top of the next: each study and series is still one, nothing is warned."""
    b = archive(per_study=3)
    b.overlap = 1
    with qido_server(b) as url:
        result = harvest(url, page_size=4)
    uids = result.series.column("series_uid").to_pylist()
    assert len(uids) == len(set(uids)) == 30
    assert result.report.read == 30
    assert result.report.rejected == {} and result.report.warnings == {}
    repeated = [q for path, q, _ in b.requests if path.endswith("/studies")
                and q["offset"] != ["0"]]
    assert repeated  # the listing was paged, so the shift did repeat entries


def test_server_ignoring_offset_fails_instead_of_truncating() -> None:
    b = archive()
    b.ignore_offset = True
    with qido_server(b) as url, pytest.raises(SourceFormatError, match="ignores 'offset'"):
        harvest(url, page_size=4)


def test_503_then_success_honours_retry_after() -> None:
    b = archive(2)
    b.fail_first, b.retry_after = 2, "1"
    with qido_server(b) as url:
        t0 = time.monotonic()
        result = harvest(url)
        elapsed = time.monotonic() - t0
    assert result.series.num_rows == 4
    assert elapsed >= 2.0  # two Retry-After: 1 waits
    # two 503s, the page, and the empty page that ends the listing
    assert len([r for r in b.requests if r[0].endswith("/studies")]) == 4


def test_429_exhausted_is_source_unavailable() -> None:
    b = archive(1)
    b.fail_first, b.fail_status, b.retry_after = 99, 429, "0"
    with qido_server(b) as url, pytest.raises(SourceUnavailable, match="HTTP 429 after 3"):
        harvest(url)


def test_slow_server_times_out_instead_of_hanging() -> None:
    b = archive(1)
    b.delay = 3.0
    slow = HttpSettings(connect_timeout=1, read_timeout=0.3, max_attempts=2, backoff_base=0.01)
    with qido_server(b) as url:
        t0 = time.monotonic()
        with pytest.raises(SourceUnavailable, match="ReadTimeout"):
            harvest(url, settings=slow)
        assert time.monotonic() - t0 < 2.5


def test_truncated_json_fails_the_run_and_keeps_the_published_index(tmp_path: Path) -> None:
    b = archive(3)
    with qido_server(b) as url:
        cfg = DicomwebSource.model_validate(
            {"type": "dicomweb", "url": url, "max_attempts": 2, "read_timeout": 2})
        settings = Settings(home=tmp_path)
        run_harvest(settings, "pacs", cfg, full=True)
        store = EmbeddedStore(settings.index_dir)
        before = store.count(CohortQuery()).model_dump(exclude={"index"})
        b.truncate_series = True
        with pytest.raises(SourceFormatError, match="not JSON"):
            run_harvest(settings, "pacs", cfg, full=True)
    assert store.count(CohortQuery()).model_dump(exclude={"index"}) == before
    assert before["series"]["count"] == 6


def test_exception_mid_harvest_publishes_nothing(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    b = archive(6)
    with qido_server(b) as url:
        cfg = DicomwebSource.model_validate({"type": "dicomweb", "url": url})
        settings = Settings(home=tmp_path)
        run_harvest(settings, "pacs", cfg, full=True)
        calls = {"n": 0}
        real = DicomwebIndexer._record

        def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 3:
                raise SourceUnavailable("connection lost half-way (simulated)")
            return real(*args, **kwargs)

        monkeypatch.setattr(DicomwebIndexer, "_record", boom)
        b.studies.append(study("9.9.9", "P9"))
        b.series["9.9.9"] = [series("9.9.9.1")]
        with pytest.raises(SourceUnavailable, match="half-way"):
            run_harvest(settings, "pacs", cfg, full=True)
        monkeypatch.undo()
        store = EmbeddedStore(settings.index_dir)
        assert store.count(CohortQuery()).series.count == 12
        report = run_harvest(settings, "pacs", cfg, full=True)
    assert (report.added, report.unchanged, report.deleted) == (1, 12, 0)
    assert store.count(CohortQuery()).series.count == 13


def test_auth_and_window_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    b = archive(10)
    monkeypatch.setenv("PACS_TOKEN", "s3cret")
    with qido_server(b) as url:
        cfg = DicomwebSource.model_validate({
            "type": "dicomweb", "url": url,
            "auth": {"type": "bearer", "token_env": "PACS_TOKEN"}})
        window = StudyDateWindow(date(2024, 1, 3), date(2024, 1, 5))
        result = build_indexer("pacs", cfg, window=window).harvest("r")
        basic = DicomwebSource.model_validate({
            "type": "dicomweb", "url": url,
            "auth": {"type": "basic", "username": "u", "password": "p"}})
        build_indexer("pacs", basic).harvest("r")
    assert result.series.num_rows == 3 * 2
    first = b.requests[0]
    assert first[1]["StudyDate"] == ["20240103-20240105"]
    assert first[2]["Authorization"] == "Bearer s3cret"
    assert b.requests[-1][2]["Authorization"].startswith("Basic ")


def test_missing_secret_is_a_clear_config_error() -> None:
    from imaging_hub.errors import ConfigError

    cfg = DicomwebSource.model_validate({
        "type": "dicomweb", "url": "http://127.0.0.1:9/dicom-web",
        "auth": {"type": "bearer", "token_env": "IHUB_TEST_UNSET_TOKEN"}})
    with pytest.raises(ConfigError, match="IHUB_TEST_UNSET_TOKEN"):
        build_indexer("pacs", cfg)
