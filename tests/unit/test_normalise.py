import pytest

from imaging_hub.indexers import normalise


@pytest.mark.parametrize(
    ("raw", "years"),
    [
        ("065Y", 65.0), (" 042y ", 42.0), ("006M", 0.5), ("052W", 0.9966),
        ("365D", 0.9993), ("110Y", 110.0), ("000M", 0.0), ("000D", 0.0), ("000W", 0.0),
        ("001Y", 1.0),
    ],
)
def test_parse_age_reads_dicom_age_strings(raw: str, years: float) -> None:
    age = normalise.parse_age(raw)
    assert age.years == pytest.approx(years, abs=1e-4) and age.warning is None


@pytest.mark.parametrize("raw", ["47", "N-A", "65", "65Y", "0065Y", "abcY", "065X", "-01Y"])
def test_parse_age_rejects_garbage(raw: str) -> None:
    assert normalise.parse_age(raw) == (None, "age_unparseable")


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_an_empty_age_is_no_value_and_no_warning(raw: str | None) -> None:
    assert normalise.parse_age(raw) == (None, None)


@pytest.mark.parametrize("raw", ["000Y", " 000y "])
def test_000y_is_a_placeholder_not_a_newborn(raw: str) -> None:
    """Values saved from idc-index-data: 4D-Lung's adults are all recorded as 000Y."""
    assert normalise.parse_age(raw) == (None, "age_placeholder")


def test_a_source_can_name_its_own_placeholders() -> None:
    own = frozenset({"000Y", "000D"})
    assert normalise.parse_age("000D", own) == (None, "age_placeholder")
    assert normalise.parse_age("000D").years == 0.0
    assert normalise.parse_age("001D", own).years == pytest.approx(1 / 365.25, abs=1e-4)


@pytest.mark.parametrize("raw", ["111Y", "155Y", "999Y", "120Y"])
def test_ages_over_110_years_are_implausible(raw: str) -> None:
    """IDC's phantoms are recorded at 111 and 155 years (cc_radiomics_phantom, lung_phantom)."""
    assert normalise.parse_age(raw) == (None, "age_implausible")


@pytest.mark.parametrize(("years", "age"), [
    (63.0, (63.0, None)), (0, (0.0, None)), (110.0, (110.0, None)),
    (110.5, (None, "age_implausible")), (-1, (None, "age_unparseable")),
    (float("nan"), (None, "age_unparseable")), (float("inf"), (None, "age_unparseable"))])
def test_ages_given_in_years_follow_the_same_rule(years: float, age: tuple[object, ...]
                                                  ) -> None:
    assert normalise.age_in_years(years) == age


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
