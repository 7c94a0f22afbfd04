"""The defects schemathesis found, each pinned by a request that used to answer 500 or be accepted: NUL
characters, ISO offsets PostgreSQL refuses, crafted cursors, page sizes, empty or garbage filters, and
JSON values of the wrong type. Each answers a 4xx problem and changes nothing."""

from __future__ import annotations

import base64

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.audit.services import checkpoint_sign

from .conftest import assert_problem, client_for


@pytest.fixture
def admin(admin_user):
    return client_for(admin_user)


def cursor_at(position: str) -> str:
    return base64.b64encode(f"p={position}".encode()).decode()


@pytest.mark.parametrize("query", ["action=a%00b", "subject_id=%00", "until=0001-01-01T00:00:00%2B05:00",
                                   "since=2026-02-30T00:00:00Z", "since=", "index_from="])
def test_audit_entry_filters_with_nul_out_of_range_or_impossible_dates_or_no_value_are_400(admin, query):
    assert_problem(admin.get(f"/api/v1/audit/entries?{query}"), 400, "validation-failed")


@pytest.mark.parametrize(("path", "name"), [("/api/v1/audit/entries", "since"),
                                            ("/api/v1/model-versions/", "registered_after")])
def test_a_date_time_with_an_offset_postgresql_refuses_is_converted_to_utc_not_a_500(admin, path, name):
    # ISO 8601 allows -21:04; PostgreSQL refuses offsets beyond ±15:59.
    assert admin.get(f"{path}?{name}=2025-01-01T00:00:00-21:04").status_code == 200


@pytest.mark.parametrize("query", ["artifact_format=", "registered_before=",
                                   "registered_after=9999-12-31T23:00:00-05:00"])
def test_model_version_filters_without_a_value_or_out_of_range_are_400(admin, query):
    assert_problem(admin.get(f"/api/v1/model-versions/?{query}"), 400, "validation-failed")


@pytest.mark.parametrize("value", ["maybe", ""])
def test_a_yes_no_filter_that_is_not_true_or_false_is_400_not_ignored(admin, dataset_versions, value):
    response = admin.get(f"/api/v1/datasets/loans/versions/?contains_personal_data={value}")
    assert_problem(response, 400, "validation-failed", field="contains_personal_data")


@pytest.mark.parametrize("page_size", ["0", "-1", "501", "1.5", "ten", "", "٣"])
def test_a_page_size_outside_1_to_500_or_not_a_whole_number_is_400_not_replaced(admin, page_size):
    assert_problem(admin.get(f"/api/v1/use-cases/?page_size={page_size}"), 400, "validation-failed",
                   field="page_size")


@pytest.mark.parametrize("position", ["abc", "1%00", "1.5"])
def test_a_crafted_cursor_whose_position_is_not_an_integer_is_404_not_500(admin, position):
    response = admin.get("/api/v1/model-versions/", {"cursor": cursor_at(position)})
    assert_problem(response, 404, "not-found")


def test_a_key_prefix_with_a_nul_is_no_such_key(admin, make_key):
    api_key, _ = make_key()
    name = api_key.service_account.name
    response = admin.post(f"/api/v1/service-accounts/{name}/keys/dkt_ab%00cd/revoke/", {"reason": "x"},
                          format="json")
    assert_problem(response, 404, "not-found")


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("put", "/api/v1/use-cases/credit-scoring/risk-tier/", {"tier": 1, "rationale": "Low."}, "tier"),
    ("put", "/api/v1/use-cases/credit-scoring/risk-tier/", {"tier": "1", "rationale": 42}, "rationale"),
    ("patch", "/api/v1/use-cases/credit-scoring/", {"member_states": ["DE", 7]}, "member_states"),
    ("post", "/api/v1/datasets/loans/versions/1/lifecycle/", {"state": "archived", "reason": -1.5e308}, "reason"),
    ("post", "/api/v1/datasets/loans/versions/", {"contains_personal_data": "yes"}, "contains_personal_data"),
    ("post", "/api/v1/datasets/loans/versions/", {"row_count": "12"}, "row_count"),
    ("post", "/api/v1/datasets/loans/versions/", {"datasheet": {"motivation": "a\x00b"}}, "datasheet"),
])
def test_json_values_of_the_wrong_type_or_with_nul_are_400_and_change_nothing(
    admin, use_case, dataset_versions, state, method, path, body, field
):
    before = state()
    assert_problem(getattr(admin, method)(path, body, format="json"), 400, "validation-failed", field=field)
    assert state() == before


def test_every_error_response_in_the_schema_is_problem_json_and_every_cursor_list_documents_400_and_404(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and "content" in response:
                    assert "application/problem+json" in response["content"], (path, method, status)
                    assert "application/json" not in response["content"], (path, method, status)
            if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
                assert {"400", "404"} <= set(operation["responses"]), (path, method)


def test_the_audit_api_is_documented(db):
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert paths["/api/v1/audit/checkpoints/latest/note"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}}
    assert "201" in paths["/api/v1/audit/checkpoints"]["post"]["responses"]
    entries = paths["/api/v1/audit/entries"]["get"]
    assert {p["name"] for p in entries["parameters"]} >= {"action", "since", "until", "cursor", "page_size"}


def test_the_latest_checkpoint_note_is_served_as_text(admin, admin_user):
    checkpoint_sign(actor=admin_user)
    response = admin.get("/api/v1/audit/checkpoints/latest/note")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
