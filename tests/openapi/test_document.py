"""The OpenAPI document: valid OpenAPI 3.1, exactly the routes of the URL map, served at
/openapi.json and /auth/v1/openapi.json, assembled from its files once."""

from __future__ import annotations

import json
import re

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from gotrue_web import API_PREFIX, __version__
from gotrue_web.api import openapi
from gotrue_web.api.openapi import DOCUMENT, load_document

from .conformance import assert_conforms

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _template(rule: str) -> str:
    """Flask's /admin/users/<user_id> as OpenAPI's /admin/users/{user_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _served(app, blueprint: str, prefix: str = "") -> set[tuple[str, str]]:
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(blueprint + "."):
            assert rule.rule.startswith(prefix), rule.rule
            for method in rule.methods - IMPLICIT_METHODS:
                served.add((_template(rule.rule[len(prefix):]), method.lower()))
    return served


def _documented() -> set[tuple[str, str]]:
    return {(path, method) for path, item in DOCUMENT["paths"].items()
            for method in item if method in HTTP_METHODS}


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    assert DOCUMENT["info"]["version"] == __version__
    errors = [error.message for error in OpenAPIV31SpecValidator(DOCUMENT).iter_errors()]
    assert errors == []
    validate(DOCUMENT)


def test_every_route_of_the_api_is_documented_and_nothing_else(app):
    served = _served(app, "api")
    documented = _documented()
    assert sorted(served - documented) == [], "routes missing from the document"
    assert sorted(documented - served) == [], "documented paths the app does not serve"
    # The same routes again under /auth/v1, which the document names as its second server.
    assert _served(app, "api_v1", API_PREFIX) == served
    assert [server["url"] for server in DOCUMENT["servers"]] == ["/", API_PREFIX]


def test_every_operation_has_a_unique_id_and_documents_its_errors():
    ids = []
    for path, method in _documented():
        operation = DOCUMENT["paths"][path][method]
        ids.append(operation["operationId"])
        responses = operation["responses"]
        assert "default" in responses, f"{method} {path}: no default (error) response"
        assert any(code.startswith("2") or code.startswith("3") for code in responses), (
            f"{method} {path}: no success response")
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), f"{method} {path}: auth errors missing"
    assert len(ids) == len(set(ids))


def test_every_reference_resolves():
    def walk(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    refs = set(walk(DOCUMENT))
    assert refs
    for ref in refs:
        target = DOCUMENT
        for token in ref.removeprefix("#/").split("/"):
            assert token in target, f"{ref} does not resolve"
            target = target[token]


@pytest.mark.parametrize("path", ["/openapi.json", API_PREFIX + "/openapi.json"])
def test_the_document_is_served_at_the_root_and_under_the_prefix(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert response.headers["Cache-Control"] == "public, max-age=600"
    assert_conforms(response, path, "GET")


def test_both_urls_serve_the_bytes_assembled_at_start_up(client):
    root = client.get("/openapi.json").get_data()
    prefixed = client.get(API_PREFIX + "/openapi.json").get_data()
    assert root == prefixed
    # Assembled once at import: every answer is the same pre-encoded body.
    assert root is not None and root == openapi._BODY


def _write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_the_files_are_assembled_into_one_document(tmp_path):
    _write(tmp_path / "base.json", {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}})
    _write(tmp_path / "components" / "schemas.json", {"A": {"type": "string"}})
    _write(tmp_path / "paths" / "one.json", {"/a": {"get": {"responses": {}}}})
    _write(tmp_path / "paths" / "two.json", {"/b": {"get": {"responses": {}}}})
    document = load_document(tmp_path)
    assert document["components"]["schemas"] == {"A": {"type": "string"}}
    assert list(document["paths"]) == ["/a", "/b"]


def test_a_path_defined_in_two_files_is_refused(tmp_path):
    _write(tmp_path / "base.json", {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}})
    _write(tmp_path / "paths" / "one.json", {"/a": {"get": {"responses": {}}}})
    _write(tmp_path / "paths" / "two.json", {"/a": {"post": {"responses": {}}}})
    with pytest.raises(ValueError, match="'/a' is already defined"):
        load_document(tmp_path)
