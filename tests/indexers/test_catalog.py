"""The catalogue of gated datasets (type = "catalog"): the shipped file, its checks, and
what it publishes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from imaging_hub.config import Settings
from imaging_hub.errors import ConfigError
from imaging_hub.harvest import run_harvest
from imaging_hub.indexers.catalog import (
    SHIPPED,
    CatalogIndexer,
    CatalogSource,
    collection_links,
    load_catalogue,
)
from imaging_hub.schemas.columnar import collection_fields
from imaging_hub.schemas.query import CohortQuery
from imaging_hub.schemas.records import CollectionRecord
from imaging_hub.sources import load_sources
from imaging_hub.store.embedded import EmbeddedStore

ISSUE_LIST = {"nmdid", "adni", "abide_i", "mimic_cxr", "medpix", "uk_biobank_imaging"}


def records(path: Path = SHIPPED) -> dict[str, CollectionRecord]:
    result = CatalogIndexer("gated", path).harvest("r")
    assert result.series.num_rows == 0  # never series, never enumerable subjects
    return {r["collection"]: CollectionRecord(**collection_fields(r))
            for r in result.collections.to_pylist()}


def test_the_shipped_catalogue_lists_the_gated_datasets() -> None:
    entries = load_catalogue(SHIPPED)
    assert {e.id for e in entries} >= ISSUE_LIST
    for e in entries:  # facts carry the date and the pages they were checked against
        assert e.checked == date(2026, 12, 1) and e.sources, e.id
        assert e.access in ("registration", "controlled") and e.landing_url.startswith("http")


def test_entries_become_non_open_collections_with_published_counts() -> None:
    recs = records()
    nmdid, mimic = recs["nmdid"], recs["mimic_cxr"]
    assert nmdid.access.tier == "registration" and nmdid.subjects == 15242
    assert nmdid.primary_site == ["Whole body"] and nmdid.extra["modalities"] == "CT"
    assert "data use agreement" in nmdid.extra["access_requirement"]
    assert mimic.access.tier == "controlled" and mimic.subjects == 65379
    assert mimic.extra["images"] == "377110" and mimic.extra["studies"] == "227835"
    assert recs["adni"].subjects is None  # not verified: left out rather than guessed
    assert {r.access.tier for r in recs.values()} <= {"registration", "controlled"}


def test_each_has_a_request_access_link_to_its_landing_page() -> None:
    mimic = records()["mimic_cxr"]
    links = collection_links(mimic, {})
    assert (links[0].rel, links[0].href) == ("request-access",
                                             "https://physionet.org/content/mimic-cxr/")
    assert [lk.href for lk in links[1:]] == ["https://doi.org/10.13026/4jqj-jw95",
                                            "https://doi.org/10.1038/s41597-019-0322-0"]


def test_a_published_catalogue_adds_no_subjects_studies_or_series(tmp_path: Path) -> None:
    (tmp_path / "sources.toml").write_text('[sources.gated]\ntype = "catalog"\n')
    config = load_sources(tmp_path / "sources.toml")["gated"]
    assert isinstance(config, CatalogSource) and config.path == SHIPPED
    settings = Settings(home=tmp_path)
    report = run_harvest(settings, "gated", config)
    assert report.status == "published" and report.collections == len(load_catalogue(SHIPPED))
    counts = EmbeddedStore(settings.index_dir).count(CohortQuery()).model_dump()
    assert [counts[k]["count"] for k in ("subjects", "studies", "series")] == [0, 0, 0]


def test_another_catalogue_file_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[dataset]]\nid = "local_trial"\nname = "Local trial"\n'
                    'access = "controlled"\naccess_requirement = "Ask the PI"\n'
                    'landing_url = "https://example.org/trial"\nchecked = 2026-11-30\n')
    assert list(records(path)) == ["local_trial"]
    path.write_text('[[dataset]]\nid = "ok"\nname = "A"\naccess = "registration"\n'
                    'access_requirement = "x"\nlanding_url = "https://a"\nchecked = 2026-11-30\n'
                    '[[dataset]]\nid = "Bad Id"\nname = "B"\naccess = "open"\n'
                    'access_requirement = "x"\nlanding_url = "ftp://b"\nchecked = 2026-11-30\n')
    with pytest.raises(ConfigError) as err:
        load_catalogue(path)
    message = str(err.value)
    assert message.startswith(f"{path}: invalid catalogue: dataset 2 (Bad Id): id:")
    assert "dataset 2 (Bad Id): access:" in message  # open is not a gated tier
    assert "dataset 2 (Bad Id): landing_url: 'ftp://b' is not an http(s) URL" in message
    with pytest.raises(ConfigError, match="cannot read the catalogue"):
        load_catalogue(tmp_path / "absent.toml")
