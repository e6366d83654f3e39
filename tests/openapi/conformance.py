"""Checking a real answer against the OpenAPI document: the operation is found from the request
path (with or without /auth/v1) and method, the response from the status (or ``default``), and
the body is validated with jsonschema's 2020-12 validator (the dialect of OpenAPI 3.1), formats
included, against the schema at that place in the served document."""

from __future__ import annotations

import json
import re
from functools import cache
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from gotrue_web import API_PREFIX
from gotrue_web.api.openapi import DOCUMENT

DOCUMENT_URI = "urn:gotrue-web:openapi"
_REGISTRY = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(DOCUMENT))


def _pointer(*tokens: str) -> str:
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


@cache
def _path_patterns() -> list[tuple[re.Pattern, str]]:
    patterns = []
    for template in DOCUMENT["paths"]:
        # re.escape turns {name} into \{name\}: each becomes one path segment.
        regex = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        patterns.append((re.compile(regex + "$"), template))
    # A literal segment wins over a parameter (/user/identities/authorize).
    return sorted(patterns, key=lambda item: item[1].count("{"))


def documented_path(path: str) -> str | None:
    """The document's path template for a request path (either prefix), or None."""
    if path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):]
    for pattern, template in _path_patterns():
        if pattern.match(path):
            return template
    return None


def _resolve(node: dict) -> tuple[dict, tuple[str, ...]]:
    """Follow a local $ref (responses are shared through components/responses)."""
    tokens: tuple[str, ...] = ()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        tokens = tuple(t.replace("~1", "/").replace("~0", "~") for t in ref[2:].split("/"))
        node = DOCUMENT
        for token in tokens:
            node = node[token]
    return node, tokens


@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#{quote(pointer)}"},
                                registry=_REGISTRY,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(pointer: str, instance) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in _validator(pointer).iter_errors(instance)]


def assert_conforms(response, path: str, method: str) -> None:
    """Fail unless ``response`` (to ``method path``) is what the document says."""
    template = documented_path(path.split("?", 1)[0])
    assert template is not None, f"{path} is not in the document"
    operation = DOCUMENT["paths"][template].get(method.lower())
    assert operation is not None, f"{method} {template} is not in the document"
    responses = operation["responses"]
    key = str(response.status_code)
    if key not in responses:
        assert "default" in responses, f"{method} {template}: {key} is not documented"
        key = "default"
    documented, ref_tokens = _resolve(responses[key])
    base = ref_tokens or ("paths", template, method.lower(), "responses", key)
    for name, header in documented.get("headers", {}).items():
        header, _ = _resolve(header)
        if header.get("required"):
            assert name in response.headers, f"{method} {template} {key}: no {name} header"
    content = documented.get("content")
    if not content:
        assert response.get_data() == b"" or response.status_code in (302, 303), (
            f"{method} {template} {key}: a body where none is documented")
        return
    assert response.mimetype in content, (
        f"{method} {template} {key}: {response.mimetype} is not documented")
    body = json.loads(response.get_data(as_text=True))
    pointer = _pointer(*base, "content", response.mimetype, "schema")
    errors = schema_errors(pointer, body)
    assert not errors, f"{method} {template} {response.status_code}: {errors} in {body}"
