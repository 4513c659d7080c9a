"""The API's common contract: problem+json for every error, problem type pages, health,
and an OpenAPI document that lists every operation."""

from __future__ import annotations

import json

import pytest

from tests.api.support import (
    PROBLEM_JSON,
    SHOP,
    a_purchase_body,
    an_enrolment,
    assert_problem,
    members_url,
    table_counts,
)
from tests.builders import earn

# The operations of members, purchases and points (other /v1 routes are tested elsewhere).
V1_OPERATIONS = {
    "/v1/programs/{program}/members": {"get", "post"},
    "/v1/programs/{program}/members/{member_id}": {"get"},
    "/v1/programs/{program}/purchases": {"post"},
    "/v1/programs/{program}/members/{member_id}/balance": {"get"},
    "/v1/programs/{program}/members/{member_id}/ledger": {"get"},
    "/v1/programs/{program}/members/{member_id}/debits": {"post"},
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def post_urls(member_id: str) -> list[str]:
    return [f"{SHOP}/members", f"{SHOP}/purchases", members_url(member_id, "/debits")]


# -- malformed requests -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [0, 1, 2])
def test_malformed_json_is_a_bad_request_problem_and_writes_nothing(client, ada, ctx, endpoint):
    before = table_counts(ctx)
    response = client.post(post_urls(ada.id)[endpoint], data='{"points": 5,',
                           content_type="application/json")
    assert_problem(response, 400, "bad-request")
    assert table_counts(ctx) == before


@pytest.mark.parametrize("body", ["[]", '"card:1234"', "null", "42"])
def test_a_body_that_is_not_a_json_object_is_refused(client, ada, ctx, body):
    before = table_counts(ctx)
    response = client.post(f"{SHOP}/members", data=body, content_type="application/json")
    assert_problem(response, 422, "validation-error")
    assert table_counts(ctx) == before


def test_an_unknown_route_is_a_not_found_problem(client):
    assert_problem(client.get("/v1/nothing/here"), 404, "not-found")


@pytest.mark.parametrize("method, path", [
    ("delete", f"{SHOP}/members"), ("put", f"{SHOP}/purchases"), ("get", f"{SHOP}/purchases"),
])
def test_a_method_the_route_does_not_allow_is_a_problem(client, ada, method, path):
    assert_problem(getattr(client, method)(path), 405, "method-not-allowed")


# -- problem types ------------------------------------------------------------------------


def test_every_problem_type_the_api_answers_is_documented_at_its_url(client, ada, ctx):
    earn(ctx, ada, 5)
    debits = members_url(ada, "/debits")
    client.post(debits, json={"points": 1, "external_id": "D-1"})
    answers = [
        client.post(f"{SHOP}/members", data="{", content_type="application/json"),
        client.post(f"{SHOP}/members", json={"identities": []}),
        client.post(f"{SHOP}/members", json=an_enrolment("card:1234")),
        client.get("/v1/programs/nowhere/members/x"),
        client.get(members_url("mem_nobody")),
        client.get("/nowhere"),
        client.delete(f"{SHOP}/members"),
        client.post(debits, json={"points": 99, "external_id": "D-2"}),
        client.post(debits, json={"points": 2, "external_id": "D-1"}),
        client.get(members_url(ada, "/ledger"), query_string={"limit": 10_000}),
        client.post(f"{SHOP}/purchases", json=a_purchase_body(currency="USD")),
    ]
    problems = [response.get_json(force=True) for response in answers]
    assert len({problem["type"] for problem in problems}) == len(answers)
    for problem in problems:
        page = client.get(problem["type"])
        assert page.status_code == 200, problem["type"]
        assert page.get_json() == {"type": problem["type"], "title": problem["title"]}


def test_an_unknown_problem_type_is_itself_a_not_found_problem(client):
    assert_problem(client.get("/problems/no-such-problem"), 404, "not-found")


# -- health -------------------------------------------------------------------------------


def test_health_answers_ok_with_the_version(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.get_json()["version"]


# -- the OpenAPI document -----------------------------------------------------------------


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict) -> dict[tuple[str, str], dict]:
    return {
        (path, method): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def resolve(spec: dict, node: dict) -> dict:
    """``node``, or what its ``$ref`` ("#/components/responses/X") points to."""
    if "$ref" not in node:
        return node
    for part in node["$ref"].removeprefix("#/").split("/"):
        spec = spec[part]
    return spec


def test_openapi_is_served_and_lists_every_v1_path_with_its_methods(spec):
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] and spec["info"]["version"]
    listed = {
        path: {method for method in item if method in HTTP_METHODS}
        for path, item in spec["paths"].items()
    }
    for path, methods in V1_OPERATIONS.items():
        assert listed.get(path) == methods, path


def test_openapi_gives_every_operation_a_summary_and_its_success_answer(spec):
    for (path, method), operation in operations(spec).items():
        if method not in V1_OPERATIONS.get(path, ()):
            continue
        assert operation.get("summary"), (path, method)
        success = "201" if method == "post" else "200"
        assert "schema" in operation["responses"][success]["content"]["application/json"]


def test_openapi_documents_the_idempotency_key_header_and_the_replay_on_every_post(spec):
    posts = {path: op for (path, method), op in operations(spec).items()
             if method == "post" and path in V1_OPERATIONS}
    assert set(posts) == {path for path, methods in V1_OPERATIONS.items() if "post" in methods}
    for path, operation in posts.items():
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path
        assert headers["Idempotency-Key"]["required"] is False
        assert headers["Idempotency-Key"]["schema"]["type"] == "string"
        assert "200" in operation["responses"], path  # the replay


def test_openapi_documents_the_query_parameters_of_the_reads(spec):
    def query(path: str) -> set[str]:
        return {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])
                if p["in"] == "query"}

    assert query("/v1/programs/{program}/members") == {"identity"}
    assert query("/v1/programs/{program}/members/{member_id}/ledger") == {"limit", "cursor"}


def test_openapi_documents_a_purchases_dry_run_beside_its_idempotency_key(spec):
    operation = spec["paths"]["/v1/programs/{program}/purchases"]["post"]
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert set(parameters) == {("header", "Idempotency-Key"), ("query", "dry_run")}
    assert parameters[("query", "dry_run")]["schema"] == {"type": "boolean", "default": False}
    assert parameters[("query", "dry_run")]["required"] is False


def test_openapi_describes_error_answers_as_problem_json(spec):
    # Every error is served as application/problem+json; the document must say so.
    for (path, method), operation in operations(spec).items():
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                continue
            content = resolve(spec, response).get("content", {})
            assert PROBLEM_JSON in content, (path, method, status, sorted(content))


# -- text that is not Unicode -------------------------------------------------------------


def test_a_lone_surrogate_in_a_purchase_is_refused_naming_the_field_and_writes_nothing(
        client, ada, ctx):
    before = table_counts(ctx)
    body = a_purchase_body(ada, external_id="TILL-\ud800-1")

    response = client.post(f"{SHOP}/purchases", data=json.dumps(body),
                           content_type="application/json")

    assert_problem(response, 422, "invalid-request", field="external_id")
    assert table_counts(ctx) == before


def test_a_lone_surrogate_deep_in_a_body_is_named_by_its_path(client, ada):
    body = a_purchase_body(ada)
    body["lines"].append({"sku": "SKU-\udfff", "quantity": 1, "unit_price": "1.00"})

    response = client.post(f"{SHOP}/purchases", data=json.dumps(body),
                           content_type="application/json")

    problem = assert_problem(response, 422, "invalid-request", field="lines.1.sku")
    assert problem["errors"][0]["pointer"] == "#/lines/1/sku"


def test_a_lone_surrogate_in_a_key_is_refused(client, ctx):
    before = table_counts(ctx)
    body = an_enrolment("card:5555", **{"nick\ud83d": "x"})

    response = client.post(f"{SHOP}/members", data=json.dumps(body),
                           content_type="application/json")

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"].startswith("attributes.nick")
    assert table_counts(ctx) == before


def test_a_surrogate_pair_is_text_and_is_accepted(client, ada):
    body = a_purchase_body(ada, external_id="TILL-\U0001f600-1")
    text = json.dumps(body)  # the emoji written as the escaped pair \\ud83d\\ude00
    assert "\\ud83d\\ude00" in text

    response = client.post(f"{SHOP}/purchases", data=text, content_type="application/json")

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["external_id"] == "TILL-\U0001f600-1"
