import json
import subprocess
from pathlib import Path

from imaging_hub.schemas.export import all_schemas
from tests.conftest import VENV_BIN


def test_json_schemas_describe_identifiers_access_and_provenance() -> None:
    schemas = all_schemas()
    series = schemas["series_record"]
    defs = series["$defs"]
    assert {"study_uid", "series_uid", "doi", "crdc_series_uuid", "drs_uri"} <= set(
        defs["SeriesIdentifiers"]["properties"])
    assert defs["Access"]["properties"]["tier"]["enum"] == [
        "open", "registration", "controlled", "sequestered"]
    assert {"source", "source_version", "harvested_at", "run_id"} <= set(
        defs["Provenance"]["properties"])
    assert {"age", "age_raw", "sex", "sex_raw"} <= set(series["properties"])
    assert "filters" in schemas["search_request"]["properties"]


def test_ihub_schema_writes_files(tmp_path: Path) -> None:
    done = subprocess.run([str(VENV_BIN / "ihub"), "schema", "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = {p.name for p in tmp_path.glob("*.schema.json")}
    assert "series_record.schema.json" in written and len(written) == len(all_schemas())
    assert json.loads((tmp_path / "collection_record.schema.json").read_text())["title"] == \
        "CollectionRecord"
    dictionary = json.loads((tmp_path / "data-dictionary.json").read_text())
    assert {"fields", "vocabularies", "notices"} <= set(dictionary)
    assert "body_region" in {f["name"] for f in dictionary["fields"]}
