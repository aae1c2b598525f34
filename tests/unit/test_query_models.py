import pytest
from pydantic import ValidationError

from imaging_hub.schemas.query import CohortQuery, SearchRequest
from imaging_hub.search_ui.filters import parse_filters


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"nope": ["x"]}, "unknown filter field 'nope'"),
        ({"age": {"gte": 80, "lte": 10}}, "inverted range"),
        ({"age": ["60"]}, "takes ranges"),
        ({"modality": "CT"}, "takes a list"),
        ({"modality": {"gte": 1}}, "not a range"),
        ({"modality": []}, "empty value list"),
        ({"age": {}}, "needs 'gte', 'lte' or both"),
        ({"modality": [["CT"]]}, "values must be strings"),
    ],
)
def test_bad_filters_are_refused_with_the_field_named(filters: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CohortQuery.model_validate({"filters": filters})


def test_unknown_keys_facets_and_sorts_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        SearchRequest.model_validate({"txt": "x"})
    with pytest.raises(ValidationError, match="unknown facet 'foo'"):
        SearchRequest.model_validate({"facets": ["foo"]})
    with pytest.raises(ValidationError, match="cannot sort by"):
        SearchRequest.model_validate({"sort": "collection"})
    with pytest.raises(ValidationError, match="less than or equal to 1000"):
        SearchRequest.model_validate({"page": {"size": 10**6}})


def test_cli_filter_syntax() -> None:
    assert parse_filters(["modality=CT,MR", "age=60..", "study_year=1999..2002", "sex=F"]) == {
        "modality": ["CT", "MR"], "age": {"gte": 60.0},
        "study_year": {"gte": 1999.0, "lte": 2002.0}, "sex": ["F"]}
    assert parse_filters(["study_year=2001,2002"]) == {"study_year": [2001.0, 2002.0]}
    with pytest.raises(ValueError, match="not FIELD=VALUE"):
        parse_filters(["modality"])
    with pytest.raises(ValueError, match="must be numbers"):
        parse_filters(["age=a..b"])
