import pytest

from imaging_hub.indexers import normalise


@pytest.mark.parametrize(
    ("raw", "years"),
    [
        ("065Y", 65.0), ("000Y", 0.0), (" 042y ", 42.0), ("006M", 0.5), ("052W", 0.9966),
        ("365D", 0.9993), ("120Y", 120.0),
    ],
)
def test_parse_age_reads_dicom_age_strings(raw: str, years: float) -> None:
    assert normalise.parse_age(raw) == pytest.approx(years, abs=1e-4)


@pytest.mark.parametrize("raw", [None, "", "47", "N-A", "65", "65Y", "0065Y", "abcY", "065X"])
def test_parse_age_rejects_garbage(raw: str | None) -> None:
    assert normalise.parse_age(raw) is None


@pytest.mark.parametrize(
    ("raw", "value"), [("M", "M"), (" f ", "F"), ("O", "O"), ("U", None), ("6657", None),
                       ("", None), (None, None)],
)
def test_sex_keeps_only_dicom_values(raw: str | None, value: str | None) -> None:
    assert normalise.sex(raw) == value


def test_code_trims_and_upper_cases() -> None:
    assert normalise.code(" chest ") == "CHEST"
    assert normalise.code("  ") is None


@pytest.mark.parametrize(
    ("name", "allowed"),
    [("CC BY 4.0", True), ("CC BY 3.0", True), ("CC BY-NC 4.0", False),
     ("CC BY-NC 3.0", False), ("CC0 1.0", True),
     ("National Library of Medicine Terms and Conditions; May 21, 2019", None),
     (None, None)],
)
def test_commercial_use_from_licence(name: str | None, allowed: bool | None) -> None:
    assert normalise.commercial_use(name) is allowed


def test_split_list_keeps_qualifiers_with_their_value() -> None:
    raw = "Diffuse Large B-Cell Lymphoma, Not Otherwise Specified, Breast Cancer, Breast Cancer"
    assert normalise.split_list(raw) == [
        "Diffuse Large B-Cell Lymphoma, Not Otherwise Specified", "Breast Cancer"]
    assert normalise.split_list(None) == []
