"""A DICOMweb server listing one UID twice (as Orthanc does for a study or series sent under
two PatientIDs): one series, its instances counted once each, the conflict reported."""

from __future__ import annotations

from imaging_hub.indexers.dicomweb import DicomwebIndexer, QidoClient
from imaging_hub.indexers.http import HttpSettings, build_client
from tests.qido_server import Behaviour, instance, qido_server, series, study

FAST = HttpSettings(connect_timeout=1, read_timeout=2, max_attempts=2, backoff_base=0.01)


def harvest(url: str, page_size: int = 10):  # type: ignore[no-untyped-def]
    qido = QidoClient(build_client(url, settings=FAST), page_size, FAST)
    return DicomwebIndexer(name="pacs", qido=qido, concurrency=2).harvest("r")


def conflicted() -> Behaviour:
    b = Behaviour()
    b.studies = [study("1.2.1", "PAT-B"), study("1.2.1", "PAT-A"), study("1.2.2", "PAT-C")]
    # the series of study 1.2.1 twice (one copy per PatientID): 2 + 1 instances, distinct
    b.series["1.2.1"] = [series("1.2.1.1", instances=2), series("1.2.1.1", instances=1),
                         series("1.2.1.2", instances=4)]
    b.series["1.2.2"] = [series("1.2.2.1", instances=5)]
    b.instances["1.2.1.1"] = [instance("9.1"), instance("9.2"), instance("9.3")]
    return b


def test_a_series_listed_twice_is_one_record_with_its_distinct_instances() -> None:
    with qido_server(conflicted()) as url:
        result = harvest(url)
    rows = {r["series_uid"]: r for r in result.series.to_pylist()}
    assert set(rows) == {"1.2.1.1", "1.2.1.2", "1.2.2.1"}
    assert rows["1.2.1.1"]["instances"] == 3  # 9.1, 9.2, 9.3: neither copy alone
    assert rows["1.2.1.2"]["instances"] == 4 and rows["1.2.2.1"]["instances"] == 5
    rep = result.report
    assert rep.rejected == {}
    assert rep.warnings == {"series_uid_conflict": 1, "study_uid_conflict": 1}
    samples = {s.reason: s for s in rep.warning_samples}
    assert samples["series_uid_conflict"].key == "1.2.1.1"
    assert "listed 2 times" in (samples["series_uid_conflict"].detail or "")
    assert samples["study_uid_conflict"].key == "1.2.1"
    assert "'PAT-A', 'PAT-B'" in (samples["study_uid_conflict"].detail or "")
    # the study's subject: the smallest PatientID, whichever the server listed first
    assert {rows[u]["subject_id"] for u in ("1.2.1.1", "1.2.1.2")} == {"PAT-A"}
    assert rep.read == 4


def test_the_same_copies_on_one_page_are_kept_but_a_repeated_page_is_not() -> None:
    b = conflicted()
    b.ignore_offset = True  # every page is the whole listing, so later pages repeat it
    with qido_server(b) as url:
        result = harvest(url, page_size=50)
    assert result.series.num_rows == 3
    assert result.report.warnings["series_uid_conflict"] == 1
