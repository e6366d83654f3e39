"""The error model (contract section 2): versioned bodies, JSON 404/405, bad_json, 413, CORS,
Cache-Control, and a sweep that throws garbage at every route without getting a 500."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
import sqlalchemy as sa

from gotrue_web import create_app
from gotrue_web.models import User

from ..conftest import BASE_SETTINGS, table_rows

UNKNOWN_LOGIN = {"email": "nobody@example.com", "password": "password-123"}


def _login_error(client, headers=None):
    return client.post("/auth/v1/token?grant_type=password", json=UNKNOWN_LOGIN,
                       headers=headers or {})


# --- body shapes ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, "", "garbage", "2024-13-01", "2024-1-1", "2023-12-31",
                                     "2023-06-15", " 2024-01-01x"])
def test_legacy_shape_without_a_2024_version(client, version):
    headers = {} if version is None else {"X-Supabase-Api-Version": version}
    response = _login_error(client, headers)
    assert response.status_code == 400
    assert response.get_json() == {"code": 400, "error_code": "invalid_credentials",
                                   "msg": "Invalid login credentials"}
    assert list(response.get_json()) == ["code", "error_code", "msg"]
    assert response.headers["x-sb-error-code"] == "invalid_credentials"
    assert "X-Supabase-Api-Version" not in response.headers
    assert response.mimetype == "application/json"


@pytest.mark.parametrize("version", ["2024-01-01", "2025-06-30", "2099-12-31"])
def test_new_shape_from_2024_01_01_echoes_the_version(client, version):
    response = _login_error(client, {"X-Supabase-Api-Version": version})
    assert response.status_code == 400
    assert response.get_json() == {"code": "invalid_credentials",
                                   "message": "Invalid login credentials"}
    assert response.headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert response.headers["x-sb-error-code"] == "invalid_credentials"


@pytest.fixture
def failing_mail_app(make_mail_app, smtp_server):
    """An app whose SMTP server refuses every message."""
    smtp_server.reject_with = "554 Transaction failed: mailbox unavailable"
    return make_mail_app()


# An invitation is sent inside the request (sign-up emails go out after the answer), so a
# refused message is a 500 the caller sees.
def test_server_error_legacy_carries_error_id(failing_mail_app, service_role_token):
    response = failing_mail_app.test_client().post(
        "/auth/v1/invite", json={"email": "fail@example.com"},
        headers={"Authorization": f"Bearer {service_role_token}"})
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == 500
    assert body["error_code"] == "unexpected_failure"
    assert body["msg"] == "Error sending invite email"
    assert uuid.UUID(body["error_id"])
    assert response.headers["x-sb-error-code"] == "unexpected_failure"


def test_server_error_new_shape_has_no_error_id(failing_mail_app, service_role_token):
    response = failing_mail_app.test_client().post(
        "/auth/v1/invite", json={"email": "fail@example.com"},
        headers={"X-Supabase-Api-Version": "2024-01-01",
                 "Authorization": f"Bearer {service_role_token}"})
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure",
                                   "message": "Error sending invite email"}


def test_weak_password_adds_reasons_in_both_shapes(client):
    body = {"email": "weak@example.com", "password": "abc"}
    legacy = client.post("/auth/v1/signup", json=body)
    assert legacy.status_code == 422
    assert legacy.get_json()["error_code"] == "weak_password"
    assert legacy.get_json()["weak_password"] == {"reasons": ["length"]}
    new = client.post("/auth/v1/signup", json=body,
                      headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert new.status_code == 422
    assert new.get_json()["code"] == "weak_password"
    assert new.get_json()["weak_password"] == {"reasons": ["length"]}


# --- routing errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_route_is_json_404(client, prefix, method):
    response = client.open(f"{prefix}/no-such-route", method=method)
    assert response.status_code == 404
    assert response.get_json() == {"code": 404, "error_code": "not_found", "msg": "Not Found"}
    assert response.headers["x-sb-error-code"] == "not_found"
    new = client.open(f"{prefix}/no-such-route", method=method,
                      headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert new.get_json() == {"code": "not_found", "message": "Not Found"}


@pytest.mark.parametrize("prefix", ["", "/auth/v1"])
@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "/signup", {"POST"}),
    ("DELETE", "/user", {"GET", "PUT"}),
    ("PUT", "/token", {"POST"}),
])
def test_wrong_method_is_json_405(client, prefix, method, path, allowed):
    response = client.open(prefix + path, method=method)
    assert response.status_code == 405
    assert response.get_json() == {"code": 405, "error_code": "method_not_allowed",
                                   "msg": "Method Not Allowed"}
    assert response.headers["x-sb-error-code"] == "method_not_allowed"
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


# --- request bodies ---------------------------------------------------------------------------


BAD_BODIES = {
    "empty": b"",
    "whitespace": b"  \n ",
    "truncated": b'{"email": "a@example.com"',
    "not-json": b"email=a@example.com&password=x",
    "array": b'[{"email": "a@example.com"}]',
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "non-utf8": b'{"email": "\xff\xfe@example.com", "password": "password-123"}',
    "nan": b'{"email": "a@example.com", "password": "password-123", "data": {"x": NaN}}',
    "infinite-number": b'{"email": "a@example.com", "password": "password-123", '
                       b'"data": {"x": 1e999}}',
    "giant-integer": b'{"email": "a@example.com", "password": "password-123", "data": {"x": '
                     + b"9" * 5000 + b"}}",
    "nul-character": b'{"email": "a@example.com", "password": "pass\\u0000word-123"}',
    "lone-surrogate": b'{"email": "a@example.com", "password": "pass\\ud800word-123"}',
    "nested-too-deep": b'{"email": "a@example.com", "password": "password-123", "data": '
                       + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}",
    "email-number": b'{"email": 12, "password": "password-123"}',
    "password-bool": b'{"email": "a@example.com", "password": true}',
    "password-list": b'{"email": "a@example.com", "password": ["password-123"]}',
    "data-string": b'{"email": "a@example.com", "password": "password-123", "data": "x"}',
    "data-list": b'{"email": "a@example.com", "password": "password-123", "data": [1]}',
    "phone-object": b'{"phone": {"n": 1}, "password": "password-123"}',
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_body_is_400_bad_json_and_writes_nothing(app, client, name):
    response = client.post("/auth/v1/signup", data=BAD_BODIES[name],
                           headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["code"] == "bad_json"
    assert response.headers["x-sb-error-code"] == "bad_json"
    assert table_rows(app, sa.select(User.id)) == []


def test_body_is_json_whatever_the_content_type(client):
    body = json.dumps({"email": "form@example.com", "password": "password-123"})
    response = client.post("/auth/v1/signup", data=body,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.get_json()["user"]["email"] == "form@example.com"


def test_unknown_keys_are_ignored(client):
    response = client.post("/auth/v1/signup", json={
        "email": "extra@example.com", "password": "password-123", "favourite_colour": ["blue"]})
    assert response.status_code == 200


def test_nesting_within_the_limit_is_stored(app, client):
    nested: dict = {"leaf": True}
    for _ in range(20):
        nested = {"n": nested}
    response = client.post("/auth/v1/signup", json={
        "email": "deep@example.com", "password": "password-123", "data": nested})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["user"]["user_metadata"]["n"] == nested["n"]


def test_body_over_one_mebibyte_is_413(app, client):
    padding = "x" * (1024 * 1024)
    body = json.dumps({"email": "big@example.com", "password": "password-123", "pad": padding})
    response = client.post("/auth/v1/signup", data=body,
                           headers={"X-Supabase-Api-Version": "2024-01-01"})
    assert response.status_code == 413
    assert response.get_json() == {"code": "request_entity_too_large",
                                   "message": "Request body too large"}
    assert response.headers["x-sb-error-code"] == "request_entity_too_large"
    assert table_rows(app, sa.select(User.id)) == []


def test_body_just_under_one_mebibyte_is_read(client):
    prefix = json.dumps({"email": "almost@example.com", "password": "password-123", "pad": ""})
    padding = "x" * (1024 * 1024 - len(prefix))
    body = json.dumps({"email": "almost@example.com", "password": "password-123",
                       "pad": padding})
    assert len(body) == 1024 * 1024
    response = client.post("/auth/v1/signup", data=body)
    assert response.status_code == 200


# --- CORS and caching -------------------------------------------------------------------------


def test_cors_preflight(client):
    response = client.options("/auth/v1/token?grant_type=password", headers={
        "Origin": "https://app.example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers":
            "authorization, x-client-info, x-jwt-aud, x-supabase-api-version, apikey, "
            "content-type",
    })
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = {h.strip().lower() for h in
               response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-client-info", "x-jwt-aud", "x-supabase-api-version",
            "apikey", "content-type"} <= allowed
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE"} <= methods


@pytest.mark.parametrize("path", ["/auth/v1/settings", "/settings", "/auth/v1/no-such-route"])
def test_cors_headers_on_responses(client, path):
    response = client.get(path, headers={"Origin": "https://app.example.com"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = {h.strip().lower() for h in
               response.headers["Access-Control-Expose-Headers"].split(",")}
    assert exposed == {"x-total-count", "link", "x-supabase-api-version", "x-request-id"}
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize("path", ["/auth/v1/settings", "/health", "/auth/v1/no-such-route"])
def test_no_cors_headers_without_an_origin(client, path):
    """A request without Origin (a server, a mobile app) is no CORS request: nothing to add
    (flask-cors's hook is not even run for it, see gotrue_web._cross_origin_only)."""
    response = client.get(path)
    assert [name for name in response.headers.keys()
            if name.lower().startswith("access-control-") or name.lower() == "vary"] == []
    assert response.headers["X-Request-Id"]


def test_cors_exposes_the_configured_request_id_header(make_app):
    app = make_app(**{"api.request_id_header": "X-Trace-Id"})
    response = app.test_client().get("/settings", headers={"Origin": "https://app.example.com",
                                                           "X-Trace-Id": "trace-42"})
    exposed = {h.strip().lower() for h in
               response.headers["Access-Control-Expose-Headers"].split(",")}
    assert "x-trace-id" in exposed and "x-request-id" not in exposed
    assert response.headers["X-Trace-Id"] == "trace-42"


def test_token_responses_are_not_cached(api):
    signup = api.signup("cache@example.com")
    assert signup.headers["Cache-Control"] == "no-store"
    login = api.login("cache@example.com")
    assert login.status_code == 200
    assert login.headers["Cache-Control"] == "no-store"
    refreshed = api.refresh(login.get_json()["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.headers["Cache-Control"] == "no-store"
    error = api.login("cache@example.com", "wrong-password")
    assert error.headers["Cache-Control"] == "no-store"
    user = api.get("/user", token=login.get_json()["access_token"])
    assert user.headers["Cache-Control"] == "no-store"


# --- the garbage sweep ------------------------------------------------------------------------

FIELDS = (
    "email", "phone", "password", "data", "channel", "code_challenge", "code_challenge_method",
    "refresh_token", "auth_code", "code_verifier", "current_password", "nonce", "app_metadata",
    "user_metadata", "role", "id", "aud", "ban_duration", "email_confirm", "phone_confirm",
    "password_hash", "should_soft_delete", "type", "token", "token_hash", "redirect_to",
    "create_user", "new_email", "factor_type", "friendly_name", "challenge_id", "code",
    "provider", "id_token", "gotrue_meta_security",
)
WRONG_VALUES = [
    1, -1, 1.5, 10**30, True, False, None, "", " ", [], {}, [1, {"a": [None]}],
    {"a": {"b": {"c": ["d", 2, None, {"e": {}}]}}}, "x" * 200_000, "☃" * 300,
    "user@example.com", "+15555550100", "' OR 1=1 --", "../../etc/passwd", "%00%ff",
    "\u202e\ufeff", "2024-01-01T00:00:00Z",
]
RAW_BODIES = [
    b"", b"{", b"[]", b"null", b"\xff\xfe\xfd", b'{"email": "\xc3\x28"}', b"{}" * 1000,
    b'{"a":' * 200 + b"1" + b"}" * 200, b'{"data": {"x": NaN}}', b'{"password": "\\u0000"}',
]
# Well-formed requests with one poisoned value, so the poison reaches the services and the
# database instead of stopping at the first type check.
POISONS = [b"NaN", b"-Infinity", b"1e999", b'"\\ud800"', b'"a\\u0000b"', b"9" * 5000,
           b'{"a":' * 40 + b"1" + b"}" * 40]
POISONED_TEMPLATES = [
    b'{"email": "poison@example.com", "password": "password-123", "data": {"k": %s}, '
    b'"user_metadata": {"k": %s}, "app_metadata": {"k": %s}}',
    b'{"email": "poison@example.com", "password": %s, "current_password": %s, "nonce": %s}',
    b'{"email": "poison@example.com", "refresh_token": %s, "phone": %s, "password_hash": %s}',
]
QUERIES = [
    "", "?grant_type=password&scope=local", "?grant_type=refresh_token&scope=others&page=0",
    "?grant_type=pkce&scope=%ff&page=x&per_page=-5&redirect_to=javascript:alert(1)",
    "?grant_type=id_token&filter=%25%00&sort=nope%20sideways", "?grant_type=web3&type=%00",
]
PATH_VALUES = [str(uuid.UUID(int=7)), "not-a-uuid", "%00", "x" * 300, "..%2f..%2f"]
HEADER_VARIANTS = [
    {},
    {"X-JWT-AUD": "a" * 1000},
    {"X-JWT-AUD": "nul\x00aud", "X-Client-Info": "\x00"},
    {"X-Supabase-Api-Version": "2024-01-01", "User-Agent": "u" * 5000,
     "redirect_to": "https://evil.example.com/\x7f"},
]


def _sweep_routes():
    app = create_app(BASE_SETTINGS.replace(**{"db.url": "sqlite://"}))
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api_v1."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((method, rule.rule))
    return sorted(routes)


SWEEP_ROUTES = _sweep_routes()


def _bodies():
    bodies = [json.dumps({field: value for field in FIELDS}).encode() for value in WRONG_VALUES]
    poisoned = [template % (poison, poison, poison)
                for template in POISONED_TEMPLATES for poison in POISONS]
    return bodies + RAW_BODIES + poisoned


def _paths(rule: str):
    if "<" not in rule:
        return [rule]
    paths = []
    for value in PATH_VALUES:
        path = rule
        while "<" in path:
            start = path.index("<")
            path = path[:start] + value + path[path.index(">", start) + 1:]
        paths.append(path)
    return paths


@pytest.mark.parametrize("method, rule", SWEEP_ROUTES,
                         ids=[f"{m} {r}" for m, r in SWEEP_ROUTES])
def test_garbage_never_causes_a_server_error(app, api, method, rule):
    session = api.session("sweep@example.com")
    tokens = [None, session["access_token"], api.service_role_token, "not.a.jwt"]
    failures = []
    variants = itertools.cycle(itertools.product(QUERIES, HEADER_VARIANTS))
    for path in _paths(rule):
        for body in _bodies():
            for token in tokens:
                query, extra_headers = next(variants)
                headers = dict(extra_headers)
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                response = api.client.open(path + query, method=method, data=body,
                                           headers=headers)
                # /callback answers every failure with a redirect: OAuth errors travel in the
                # URL back to the app, as in GoTrue.
                redirected = (300 <= response.status_code < 400
                              and bool(response.headers.get("Location")))
                if response.status_code >= 500 or (response.status_code != 204 and not redirected
                                                    and response.mimetype != "application/json"):
                    failures.append((path + query, body[:80], response.status_code,
                                     response.get_data(as_text=True)[:200]))
    assert failures == []
