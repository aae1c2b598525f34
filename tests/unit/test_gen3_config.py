"""``type = "gen3"`` in sources.toml, validated through the source-type registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_hub.errors import ConfigError
from imaging_hub.indexers.gen3 import Gen3Source
from imaging_hub.sources import load_sources, max_age, schedule_of


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text)
    return path


def test_gen3_source_parses_with_defaults(tmp_path: Path) -> None:
    sources = load_sources(write(tmp_path, """
[sources.midrc]
type = "gen3"
url = "https://data.midrc.org"
credentials = "~/.gen3/midrc.json"
[sources.hub]
type = "gen3"
url = "https://imaging-hub.data-commons.org"
model = "bih"
access = "open"
"""))
    midrc, hub = sources["midrc"], sources["hub"]
    assert isinstance(midrc, Gen3Source) and isinstance(hub, Gen3Source)
    assert midrc.model == "midrc" and midrc.page_size == 1000 and midrc.read_timeout == 300
    assert hub.credentials is None and hub.access == "open"
    assert schedule_of(midrc) == "0 5 * * *" and max_age(midrc) == 48


@pytest.mark.parametrize(("body", "message"), [
    ('url = "ftp://x"', "url must start with http"),
    ('url = "https://x"\npage_size = 20000', "page_size"),
    ('url = "https://x"\nmodle = "bih"', "modle"),
])
def test_bad_gen3_entries_name_the_source_and_key(tmp_path: Path, body: str,
                                                  message: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[sources\.m\].*{message}"):
        load_sources(write(tmp_path, f'[sources.m]\ntype = "gen3"\n{body}\n'))


def test_a_missing_key_file_names_the_source_and_the_file(tmp_path: Path) -> None:
    from imaging_hub.indexers.gen3 import build
    from imaging_hub.source_types import BuildOptions

    config = Gen3Source.model_validate({"type": "gen3", "url": "https://data.midrc.org",
                                        "credentials": str(tmp_path / "absent.json")})
    with pytest.raises(ConfigError, match=r"sources.toml \[sources.midrc\]: .*absent\.json: "
                                          r"cannot read the Gen3 API key file"):
        build("midrc", config, BuildOptions())
