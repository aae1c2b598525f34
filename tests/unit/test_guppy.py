"""Gen3 Guppy filter JSON read into imaging-hub filters (schemas.guppy): shapes, the
filters/where split, field and value mapping, and errors naming the operator or field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from imaging_hub.schemas.guppy import GuppyFilterError, is_guppy, translate
from imaging_hub.schemas.query import CohortQuery, SearchRequest


def body(guppy: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The request as imaging-hub reads it (filters and where, aliases as sent)."""
    q = CohortQuery.model_validate({"filters": guppy, **extra})
    return q.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def test_a_plain_and_of_field_conditions_becomes_faceted_filters() -> None:
    got = body({"AND": [
        {"IN": {"Modality": ["ct", "MR"]}},
        {">=": {"PatientAge": 40}}, {"<": {"PatientAge": 60}},
        {"=": {"sex": "Female"}},
        {"and": [{"in": {"project_id": ["Open-A1"]}}]},
    ]})
    assert got == {"filters": {
        "modality": {"values": ["CT", "MR"]},
        "age": {"ranges": [{"gte": 40.0, "lt": 60.0}]},
        "sex": {"values": ["F"]},
        "collection": {"values": ["Open-A1"]}}}


def test_or_excludes_and_nested_go_to_where_and_the_rest_stays_faceted() -> None:
    got = body({"AND": [
        {"OR": [{"=": {"Modality": "CT"}}, {"=": {"BodyPartExamined": "chest"}}]},
        {"EXCLUDES_ANY": {"PatientSex": ["Male", "other"]}},
        {"nested": {"path": "imaging_studies", "AND": [
            {">": {"age_at_imaging": 65}},
            {"OR": [{"IN": {"study_modality": ["MR"]}}, {"!=": {"age_at_imaging": 70}}]},
        ]}},
        {"IN": {"collection_id": ["lidc"]}},
    ]})
    assert got["filters"] == {"age": {"ranges": [{"gt": 65.0}]},
                              "collection": {"values": ["lidc"]}}
    assert got["where"] == {"all": [
        {"any": [{"field": "modality", "any_of": {"values": ["CT"]}},
                 {"field": "body_part", "any_of": {"values": ["CHEST"]}}]},
        {"not": {"field": "sex", "any_of": {"values": ["M", "O"]}}},
        {"any": [{"field": "modality", "any_of": {"values": ["MR"]}},
                 {"field": "age", "any_of": {"ranges": [{"gt": 70.0}, {"lt": 70.0}]}}]},
    ]}


def test_an_or_over_one_field_is_one_faceted_filter() -> None:
    got = body({"OR": [{"=": {"PatientSex": "F"}}, {"=": {"PatientSex": "no data"}},
                       {"in": {"sex": ["Not Reported"]}}]})
    assert got == {"filters": {"sex": {"values": ["F"], "missing": True}}}


@pytest.mark.parametrize(("guppy", "filters", "where"), [
    ({"=": {"PatientSex": "no data"}}, {"sex": {"missing": True}}, None),
    ({"!=": {"modality": "SEG"}}, {}, {"not": {"field": "modality",
                                                 "any_of": {"values": ["SEG"]}}}),
    ({"contains_all": {"disease_type": ["Lung Cancer", "Non-Cancer"]}},  # both values
     {"disease_type": {"values": ["Lung Cancer"]}},
     {"field": "disease_type", "any_of": {"values": ["Non-Cancer"]}}),
    ({"EXCLUDES_ALL": {"primary_site": ["Lung", "Chest"]}}, {}, {"not": {"all": [
        {"field": "primary_site", "any_of": {"values": ["Lung"]}},
        {"field": "primary_site", "any_of": {"values": ["Chest"]}}]}}),
    ({"IN": {"number_of_instances": [1, 2]}}, {"instances": {"ranges": [
        {"gte": 1.0, "lte": 1.0}, {"gte": 2.0, "lte": 2.0}]}}, None),
    ({"AND": [{">=": {"age": 50}}, {"<=": {"age": 40}}]}, {"age": {"ranges": [{"gte": 50.0}]}},
     {"field": "age", "any_of": {"ranges": [{"lte": 40.0}]}}),  # inverted: never merged
    ({"AND": []}, {}, None),
    ({"OR": [{"AND": []}]}, {}, None),
])
def test_operator_semantics(guppy: dict[str, Any], filters: dict[str, Any],
                            where: dict[str, Any] | None) -> None:
    got = body(guppy)
    assert got.get("filters", {}) == filters
    assert got.get("where") == where


def test_guppy_filters_are_recognised_only_by_a_single_operator_key() -> None:
    assert is_guppy({"AND": []}) and is_guppy({"or": []}) and is_guppy({"=": {"a": 1}})
    assert is_guppy({"nested": {}}) and is_guppy({"search": {}})
    assert not is_guppy({"modality": ["CT"]}) and not is_guppy({})
    assert not is_guppy({"AND": [], "modality": ["CT"]}) and not is_guppy([{"AND": []}])
    native = CohortQuery.model_validate({"filters": {"modality": ["CT"]}})
    assert native.where is None and native.filters["modality"].values == ("CT",)


def test_a_where_sent_alongside_is_anded_and_search_requests_take_guppy_too() -> None:
    own = {"not": {"field": "source", "any_of": ["mirror"]}}
    got = body({"OR": [{"=": {"modality": "CT"}}, {"=": {"sex": "F"}}]}, where=own)
    assert got["where"]["all"][1] == {"not": {"field": "source", "any_of": {
        "values": ["mirror"]}}}
    req = SearchRequest.model_validate({"filters": {"IN": {"Modality": ["SM"]}},
                                        "facets": ["modality"]})
    assert req.filters["modality"].values == ("SM",)


@pytest.mark.parametrize(("guppy", "path", "message", "unsupported"), [
    ({"AND": [{"IN": {"modality": ["CT"]}}, {"excludeifany": {"sex": ["M"]}}]},
     "filters.AND[1].excludeifany", "operator 'excludeifany' is not supported", True),
    ({"OR": [{"search": {"keyword": "lung"}}]}, "filters.OR[0].search", "put the words in "
     "'text'", True),
    ({"IN": {"covid19_positive": ["Yes"]}}, "filters.IN.covid19_positive",
     "field 'covid19_positive' is not supported", True),
    ({"=": {"age_at_index": 50}}, "filters.=.age_at_index", "age at the index event", True),
    ({"AND": [{"=": {"favourite_colour": "blue"}}]}, "filters.AND[0].=.favourite_colour",
     "field 'favourite_colour' is not supported", True),
    ({">": {"Modality": "CT"}}, "filters.>.Modality", "takes a numeric field", True),
    ({"EXCLUDES_ANY": {"PatientAge": [50]}}, "filters.EXCLUDES_ANY.PatientAge",
     "takes a text field", True),
    ({"=": {"modality": ["CT", "MR"]}}, "filters.=.modality", "takes one value", False),
    ({"AND": {"=": {"modality": "CT"}}}, "filters.AND", "takes a list of filters", False),
    ({"IN": {"modality": ["CT"], "sex": ["F"]}}, "filters.IN", "one {FIELD: VALUE}", False),
    ({">=": {"PatientAge": "old"}}, "filters.>=.PatientAge", "takes numbers", False),
    ({"AND": [{"=": {"modality": "CT"}, "!=": {"sex": "M"}}]}, "filters.AND[0]",
     "one operator per object", False),
    ({"nested": {"AND": []}}, "filters.nested", "takes {\"path\"", False),
    ({"IN": {"modality": [{"x": 1}]}}, "filters.IN.modality", "is not a value", False),
])
def test_errors_name_the_operator_or_field_and_where_it_sits(
        guppy: dict[str, Any], path: str, message: str, unsupported: bool) -> None:
    with pytest.raises(GuppyFilterError) as caught:
        translate(guppy)
    assert caught.value.path == path and message in str(caught.value)
    assert caught.value.unsupported is unsupported
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(
            "{", r"\{").replace("}", r"\}")):
        CohortQuery.model_validate({"filters": guppy})


def test_deep_nesting_is_refused_not_a_recursion_crash() -> None:
    deep: dict[str, Any] = {"=": {"modality": "CT"}}
    for _ in range(500):
        deep = {"AND": [deep]}
    with pytest.raises(GuppyFilterError, match="nested more than"):
        translate(deep)


def test_race_and_ethnicity_filters_reach_the_harmonised_fields() -> None:
    """MIDRC's race/ethnicity values are the OMB categories the vocabularies harmonise to;
    the hub's EthnicGroup (DICOM free text) is matched as recorded."""
    req = CohortQuery.model_validate({"filters": {"AND": [
        {"IN": {"race": ["Asian", "White"]}}, {"=": {"ethnicity": "Hispanic or Latino"}},
        {"IN": {"EthnicGroup": ["Hispanic"]}}]}})
    assert req.filters["race"].values == ("Asian", "White")
    assert req.filters["ethnicity"].values == ("Hispanic or Latino",)
    assert req.filters["ethnicity_raw"].values == ("Hispanic",)
