"""The Gen3 connector against a local commons (tests/gen3_server.py) on a real socket:
paging within Guppy's window and download past it, retries, token refresh, access tiers,
rejected records, configuration errors."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from imaging_hub.errors import ConfigError, SourceFormatError, SourceUnavailable
from imaging_hub.indexers.gen3 import Gen3Indexer, make_indexer
from imaging_hub.indexers.gen3_auth import ApiKey, FenceAuth
from imaging_hub.indexers.gen3_client import GuppyClient, GuppyQueryError
from imaging_hub.indexers.gen3_mapping import load_mapping
from imaging_hub.indexers.http import HttpSettings, build_client
from tests.gen3_server import Commons, api_key_file, gen3_server

PAYLOADS = Path(__file__).parent / "payloads" / "gen3"
FAST = HttpSettings(connect_timeout=1, read_timeout=10, max_attempts=4, backoff_base=0.01)
A1, R1 = "/programs/Open/projects/A1", "/programs/Open/projects/R1"


def template_rows() -> list[dict[str, Any]]:
    return json.loads((PAYLOADS / "midrc_data_file_page.json").read_text())["data"]["data_file"]


def series_file(i: int, authz: str = A1) -> dict[str, Any]:
    """A DICOM CT series file of the data_file index, numbered ``i``."""
    row = copy.deepcopy(template_rows()[0])
    row.update(object_id=f"dg.MD1R/00000000-0000-4000-8000-{i:012d}",
               series_uid=f"1.2.826.0.1.3680043.10.474.9.{i}.1",
               study_uid=[f"1.2.826.0.1.3680043.10.474.9.{i // 2}"],
               case_ids=[f"case-{i // 4}"], auth_resource_path=authz,
               project_id="Open-A1" if authz == A1 else "Open-R1",
               source_node="ct_series_file", data_type="DICOM", submitter_id=f"sf-{i}")
    return row


def midrc_commons(n: int, **kw: Any) -> Commons:
    mapping = load_mapping("midrc")
    rows = [series_file(i) for i in range(n)]
    # files that are not DICOM series: filtered out by the mapping, never read
    rows.append({**series_file(n), "source_node": "annotation_file"})
    rows.append({**series_file(n + 1), "data_type": "NIfTI"})
    fields = mapping.guppy_fields()["data_file"] + ["source_node", "data_type",
                                                     "submitter_id", "md5sum"]
    discovery = json.loads((PAYLOADS / "midrc_discovery.json").read_text())
    discovery.pop("BROKEN-1")
    discovery["other"] = {"_guid_type": "unregistered_discovery_metadata",
                          "gen3_discovery": {"authz": "/programs/X/projects/Y"}}
    drs = json.loads((PAYLOADS / "drs_object.json").read_text())
    guid = rows[0]["object_id"]
    drs.update(id=guid, self_uri="drs://dg.MD1R:" + guid.split("/", 1)[1])
    return Commons(rows={"data_file": rows}, fields={"data_file": fields}, mds=discovery,
                   drs={guid: drs}, readable={A1, R1}, **kw)


def harvest(url: str, tmp_path: Path, commons: Commons, model: str = "midrc",
            page_size: int = 1000, key: bool = True,
            **kw: Any) -> tuple[Gen3Indexer, Any]:
    creds = None
    if key:
        creds = tmp_path / "credentials.json"
        key_json = api_key_file(url)
        commons.api_key = key_json["api_key"]
        creds.write_text(json.dumps(key_json))
    indexer = make_indexer("midrc", url, creds, model, FAST, page_size=page_size, **kw)
    return indexer, indexer.harvest("run-1")


def requests(commons: Commons, path: str) -> list[Any]:
    return [entry for entry in commons.log if entry[1] == path]


def test_midrc_harvest_pages_within_the_window(tmp_path: Path) -> None:
    commons = midrc_commons(23)
    with gen3_server(commons) as url:
        indexer, result = harvest(url, tmp_path, commons, page_size=5)
    assert result.series.num_rows == 23 and result.report.rejected == {}
    assert result.report.warnings == {}  # DRS spot check agreed, nothing unreadable
    raw_pages = [e for e in requests(commons, "guppy/graphql")
                 if "first" in (e[2].get("variables") or {})]
    assert [p[2]["variables"]["offset"] for p in raw_pages] == [0, 5, 10, 15, 20]
    assert not requests(commons, "guppy/download")
    assert set(result.series.column("access").to_pylist()) == {"registration"}
    assert sorted(result.collections.column("collection").to_pylist()) == ["Open-A1",
                                                                            "Open-R1"]
    fence = [e for e in commons.log if e[1].startswith("user/credentials")]
    assert [e[1] for e in fence] == ["user/credentials/api/access_token"]
    assert fence[0][2] == {"api_key": commons.api_key}
    natives = [json.loads(n) for n in result.series.column("source_native").to_pylist()]
    assert {n["authz"] for n in natives} == {A1}
    assert result.link_params["commons"] == url


def test_past_the_window_reads_through_download(tmp_path: Path) -> None:
    commons = midrc_commons(10_050)
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    assert result.series.num_rows == 10_050
    assert len(set(result.series.column("series_uid").to_pylist())) == 10_050
    downloads = requests(commons, "guppy/download")
    assert len(downloads) == 1
    body = downloads[0][2]
    assert body["type"] == "data_file" and body["accessibility"] == "accessible"
    assert body["sort"] == [{"object_id": "asc"}] and "series_uid" in body["fields"]
    assert not [e for e in requests(commons, "guppy/graphql")
                if "first" in (e[2].get("variables") or {})]


def test_a_download_cut_off_half_way_is_fetched_again(tmp_path: Path) -> None:
    commons = midrc_commons(10_020, cut_downloads=1)
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    assert result.series.num_rows == 10_020 and result.report.rejected == {}
    assert len(requests(commons, "guppy/download")) == 2 and commons.cut_downloads == 0


@pytest.mark.parametrize(("body", "error"), [
    (b'[{"object_id": "dg.MD1R/1", "series_uid": "1.2.3"}, {"object_id": ',
     "the JSON array is invalid"),
    (b'{"error": "index not found"}', "expected a JSON array"),
    (b"", "expected a JSON array")])
def test_a_download_that_is_no_json_array_fails_the_harvest(tmp_path: Path, body: bytes,
                                                            error: str) -> None:
    commons = midrc_commons(10_001, download_body=body)
    with gen3_server(commons) as url, pytest.raises(SourceFormatError,
                                                    match=f"Guppy download data_file: {error}"):
        harvest(url, tmp_path, commons)


def test_a_series_listed_twice_keeps_its_first_row(tmp_path: Path) -> None:
    """Past the window (download), copies of two series sorted after their first rows:
    the first rows are kept, in order, and each later copy is a counted reject."""
    commons = midrc_commons(10_004)
    rows = commons.rows["data_file"]
    for i in (3, 10_002):
        rows.append({**series_file(i), "object_id": f"dg.MD1R/ffffffff-0000-4000-8000-{i:012d}"})
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    report = result.report
    assert result.series.num_rows == 10_004
    assert report.rejected == {"duplicate_series_uid": 2}
    assert [s.key for s in report.reject_samples] == [series_file(3)["series_uid"],
                                                      series_file(10_002)["series_uid"]]
    uids = result.series.column("series_uid").to_pylist()
    assert uids == [series_file(i)["series_uid"] for i in range(10_004)]
    assert "ffffffff" not in " ".join(result.series.column("drs_uri").to_pylist())


def test_429_and_5xx_are_retried_honouring_retry_after(tmp_path: Path) -> None:
    commons = midrc_commons(12)
    commons.fail = {"guppy/graphql": [(429, "1"), (503, None)],
                    "mds/metadata": [(502, None)], "guppy/download": [(500, None)]}
    with gen3_server(commons) as url:
        t0 = time.monotonic()
        _, result = harvest(url, tmp_path, commons)
        elapsed = time.monotonic() - t0
    assert result.series.num_rows == 12 and result.collections.num_rows == 2
    assert elapsed >= 1.0  # the Retry-After: 1
    assert commons.fail["guppy/graphql"] == [] and commons.fail["mds/metadata"] == []


def test_exhausted_retries_fail_the_harvest(tmp_path: Path) -> None:
    commons = midrc_commons(3)
    commons.fail = {"guppy/graphql": [(503, "0")] * 10}
    with gen3_server(commons) as url, pytest.raises(SourceUnavailable, match="HTTP 503"):
        harvest(url, tmp_path, commons)


def test_token_expiring_mid_harvest_is_refreshed(tmp_path: Path) -> None:
    commons = midrc_commons(40, expire_token_after=4)
    with gen3_server(commons) as url:
        indexer, result = harvest(url, tmp_path, commons, page_size=5)
    assert result.series.num_rows == 40
    assert len(commons.tokens) >= 2  # further tokens were exchanged, then used
    used = {e[3] for e in requests(commons, "guppy/graphql") if e[3]}  # not the anonymous
    assert used == {f"bearer {t}" for t in commons.tokens}
    # every refused request was sent again with the new token: 40 rows in 8 pages
    pages = [e for e in requests(commons, "guppy/graphql") if e[3]
             and "first" in (e[2].get("variables") or {})]
    assert sorted({p[2]["variables"]["offset"] for p in pages}) == list(range(0, 40, 5))


def test_token_expiring_before_a_download_is_refreshed(tmp_path: Path) -> None:
    commons = midrc_commons(10_010, expire_token_after=3)  # _mapping, 2 counts, then
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    assert result.series.num_rows == 10_010
    assert len(commons.tokens) == 2
    downloads = requests(commons, "guppy/download")
    assert len(downloads) == 2 and downloads[0][3] != downloads[1][3]  # 401, then new token


def test_malformed_rows_are_rejected_and_the_rest_indexed(tmp_path: Path) -> None:
    commons = midrc_commons(6)
    broken = [{**series_file(100), "series_uid": {"nested": "object"}},
              {**series_file(101), "study_uid": []},
              {**series_file(102), "age_at_imaging": ["sixty"]}]
    commons.rows["data_file"].extend(broken)
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    report = result.report
    assert result.series.num_rows == 7  # 6 good + the one with an unreadable age
    assert report.rejected == {"malformed_record": 1, "missing_study_uid": 1}
    assert report.warnings == {"age_unparseable": 1}
    assert report.read == 9 + 2


def test_regular_tier_reads_what_the_key_may_and_reports_the_rest(tmp_path: Path) -> None:
    commons = midrc_commons(8, tier="regular")
    commons.rows["data_file"] += [series_file(200 + i, "/programs/Closed/projects/Z")
                                  for i in range(3)]
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    assert result.series.num_rows == 8
    assert result.report.warnings["not_readable_with_key"] == 3


def test_access_key_overrides_the_probed_tier(tmp_path: Path) -> None:
    commons = midrc_commons(2)
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons, access="controlled")
    assert set(result.series.column("access").to_pylist()) == {"controlled"}


def test_bih_libre_hub_harvests_anonymously_with_platforms(tmp_path: Path) -> None:
    series = json.loads((PAYLOADS / "bih_imaging_series_download.json").read_text())
    datasets = json.loads((PAYLOADS / "bih_dataset_page.json").read_text())["data"]["dataset"]
    mapping = load_mapping("bih")
    commons = Commons(rows={"imaging_series": series, "dataset": datasets},
                      fields={t: f + ["submitter_id"] for t, f in mapping.guppy_fields().items()},
                      tier="libre")
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons, model="bih", key=False)
    assert result.series.num_rows == 3 and set(result.series.column("access").to_pylist()) \
        == {"open"}
    platforms = [json.loads(n)["platform"] for n in result.series.column("source_native")
                 .to_pylist()]
    assert sorted(platforms) == ["IDC", "MIDRC", "Stanford AIMI"]
    assert sorted(result.collections.column("program").to_pylist()) == ["IDC", "MIDRC"]
    assert not [e for e in commons.log if e[3]]  # no Authorization header was ever sent
    assert result.link_params["platform:IDC"].startswith("https://portal.imaging")


def test_mapping_naming_a_field_the_commons_lacks_is_a_config_error(tmp_path: Path) -> None:
    commons = midrc_commons(2)
    commons.fields["data_file"].remove("number_of_instances")
    with gen3_server(commons) as url, pytest.raises(
            ConfigError, match="Guppy type 'data_file' at .* has no field number_of_instances"):
        harvest(url, tmp_path, commons)


def test_mapping_naming_a_type_the_commons_lacks_is_a_config_error(tmp_path: Path) -> None:
    commons = midrc_commons(2)
    commons.fields["imaging_series"] = commons.fields.pop("data_file")
    with gen3_server(commons) as url, pytest.raises(
            ConfigError, match='Cannot query field "data_file" on type "Mapping"'):
        harvest(url, tmp_path, commons)


def test_refused_key_names_fence_and_the_remedy(tmp_path: Path) -> None:
    commons = midrc_commons(1)
    with gen3_server(commons) as url:
        creds = tmp_path / "credentials.json"
        creds.write_text(json.dumps(api_key_file(url)))
        commons.api_key = "some-other-key"
        indexer = make_indexer("midrc", url, creds, "midrc", FAST)
        with pytest.raises(SourceUnavailable, match=r"refused the API key \(HTTP 401.*"
                                                    r"download a new key"):
            indexer.harvest("r")


def test_older_fence_with_only_the_cdis_route(tmp_path: Path) -> None:
    commons = midrc_commons(2, cdis_only=True)
    with gen3_server(commons) as url:
        _, result = harvest(url, tmp_path, commons)
    assert result.series.num_rows == 2
    assert [e[1] for e in commons.log if e[1].startswith("user/")] == [
        "user/credentials/api/access_token", "user/credentials/cdis/access_token"]


def test_key_of_another_commons_or_expired_is_refused_before_any_request(
        tmp_path: Path) -> None:
    creds = tmp_path / "k.json"
    creds.write_text(json.dumps(api_key_file("https://data.midrc.org")))
    with pytest.raises(ConfigError, match="issued by data.midrc.org, not by example.org"):
        make_indexer("x", "https://example.org", creds, "midrc", FAST)
    creds.write_text(json.dumps(api_key_file("https://data.midrc.org", exp=1_000_000)))
    with pytest.raises(ConfigError, match="expired on 1970-01-12"):
        make_indexer("x", "https://data.midrc.org", creds, "midrc", FAST)
    creds.write_text("{not json")
    with pytest.raises(ConfigError, match=r"k\.json: the Gen3 API key file is not JSON"):
        make_indexer("x", "https://data.midrc.org", creds, "midrc", FAST)


def test_token_is_refreshed_a_margin_before_it_expires(tmp_path: Path) -> None:
    commons = midrc_commons(1)
    with gen3_server(commons) as url:
        key_json = api_key_file(url)
        commons.api_key = key_json["api_key"]
        creds = tmp_path / "k.json"
        creds.write_text(json.dumps(key_json))
        now = [time.time()]
        auth = FenceAuth(ApiKey.load(creds), build_client(url, settings=FAST), FAST,
                         margin=300, clock=lambda: now[0])
        first = auth.token()
        assert auth.token() == first and auth.refreshes == 1  # cached while fresh
        now[0] += 3600 - 299  # within the margin of its one-hour lifetime
        second = auth.token()
        assert second != first and auth.refreshes == 2
        assert auth.token(stale=second) != second  # a refused token is replaced at once


def test_guppy_window_error_surfaces_with_guppys_message(tmp_path: Path) -> None:
    commons = midrc_commons(10_003, tier="libre")
    with gen3_server(commons) as url:
        guppy = GuppyClient(build_client(url, settings=FAST), FAST, page_size=5_000,
                            window=20_000)  # pretend the window were larger
        with pytest.raises(GuppyQueryError, match="Large graphql query forbidden for "
                                                  "offset \\+ size > 10000"):
            list(guppy.rows("data_file", ["series_uid"], None, [{"object_id": "asc"}],
                            10_003))
