from pathlib import Path

import pytest

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.dicom_folder import DicomFolderSource
from imaging_hub.indexers.dicomweb import DicomwebSource
from imaging_hub.indexers.idc import IdcSource
from imaging_hub.source_types import REGISTRY, source_type
from imaging_hub.sources import load_sources, max_age, schedule_of


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    return path


def test_absent_file_means_idc_alone(tmp_path: Path) -> None:
    sources = load_sources(tmp_path / "sources.toml")
    assert list(sources) == ["idc"] and isinstance(sources["idc"], IdcSource)


def test_every_type_parses_with_defaults(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, """
[sources.idc]
type = "idc"
collections = ["nlst"]
[sources.pacs]
type = "dicomweb"
url = "https://pacs.example/dicom-web"
auth = { type = "bearer", token_env = "PACS_TOKEN" }
schedule = "0 5 * * *"
[sources.trial]
type = "dicom_folder"
path = "/data/trial"
"""))
    pacs, trial = sources["pacs"], sources["trial"]
    assert isinstance(pacs, DicomwebSource) and isinstance(trial, DicomFolderSource)
    assert pacs.page_size == 100 and pacs.max_drop_pct == 10 and pacs.full_every_days == 7
    assert schedule_of(pacs) == "0 5 * * *" and schedule_of(sources["idc"]) == "0 3 * * 1"
    assert max_age(trial) == 48 and max_age(sources["idc"]) == 24 * 14


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[sources.x]\ntype = "ftp"\n',
         r"\[sources.x\]: type: unknown source type 'ftp' \(known: catalog, dicom_folder, "
         r"dicomweb, gen3, idc, tabular, tcia\)"),
        ('[sources.x]\npath = "/data"\n', r"\[sources.x\]: type: missing \(known: "),
        ('[sources.x]\ntype = 3\n', r"\[sources.x\]: type: missing"),
        ('[sources]\nx = 3\n', r"\[sources.x\]: expected a table"),
        ('[sources.pacs]\ntype = "dicomweb"\n', r"\[sources.pacs\]: url: Field required"),
        ('[sources.clinic]\ntype = "dicom_folder"\npath = "/d"\nurl = "http://h"\n',
         r"\[sources.clinic\]: url: not a key of dicom_folder sources \(known: access, "
         r"collection, .*workers\)"),
        ('[sources.idc]\ntype = "idc"\nmin_count = 0\n', r"\[sources.idc\]: min_count: "),
        ('[sources.idc]\ntype = "idc"\naccess = "public"\n', r"\[sources.idc\]: access: "),
        ('[sources.pacs]\ntype = "dicomweb"\nurl = "pacs:8042"\n', "must start with http"),
        ('[sources.pacs]\ntype = "dicomweb"\nurl = "http://h"\nauth = { type = "basic" }\n',
         "basic auth needs username"),
        ('[sources.idc]\ntype = "idc"\ncolections = ["nlst"]\n', "colections"),
        ('[sources.idc]\ntype = "idc"\nmax_drop_pct = 150\n', "max_drop_pct"),
        ("[sources]\n", "at least one"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_entries_name_the_source_and_the_problem(tmp_path: Path, body: str,
                                                     message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sources(write(tmp_path, body))


def test_common_keys_on_every_type(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, """
[sources.idc]
type = "idc"
access = "registration"
min_count = 5
[sources.trial]
type = "dicom_folder"
path = "/data/trial"
max_age_hours = 12
"""))
    idc, trial = sources["idc"], sources["trial"]
    assert idc.access == "registration" and idc.min_count == 5
    assert trial.access is None and trial.min_count == 10 and max_age(trial) == 12


def test_the_registry_is_the_one_table_of_types() -> None:
    for name, kind in REGISTRY.items():
        assert kind.name == name and source_type(name) is kind
        assert kind.config.model_fields["type"].annotation is not str  # a Literal per type
        assert kind.schedule_period_hours > 0 and kind.default_schedule.count(" ") == 4
    assert REGISTRY["dicomweb"].windows and not REGISTRY["idc"].windows
    with pytest.raises(ConfigError, match="known: catalog, dicom_folder, dicomweb, gen3, "
                                          "idc, tabular, tcia"):
        source_type("ftp")
