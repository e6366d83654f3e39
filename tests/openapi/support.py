"""A request through the Flask test client, checked against the OpenAPI document."""

from __future__ import annotations

from .conformance import assert_conforms


def error_code(response) -> str | None:
    """GoTrue's error code in either error shape."""
    body = response.get_json(silent=True) or {}
    code = body.get("code")
    return code if isinstance(code, str) else body.get("error_code")


def checked(api, method: str, path: str, status: int, code: str | None = None, **kwargs):
    """``api.request(method, path, **kwargs)``: the answer must have ``status`` (and GoTrue's
    error ``code``) and match what the document says for that path, method and status."""
    response = api.request(method, path, **kwargs)
    assert response.status_code == status, (method, path, response.get_data(as_text=True))
    if code is not None:
        assert error_code(response) == code, response.get_json()
    assert_conforms(response, api.prefix + path, method)
    return response
