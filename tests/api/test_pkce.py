"""PKCE for every email flow: flow_state rows, ``pkce_`` tokens, ``?code=`` redirects from
GET /verify, and POST /token?grant_type=pkce, through a real SMTP sink."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import sqlalchemy as sa

from gotrue_web.models import FlowState, Session

from ..conftest import ApiClient, table_rows
from ..factories import (
    PASSWORD,
    create_user,
    fragment_pairs,
    freeze_clock,
    mail_to,
    one_time_tokens,
    path_of,
    query,
    sign_in,
    unique_email,
    user_row,
    verified_claims,
)
from ..support.smtp import links

CALLBACK = "https://app.example.com/cb"
HALF_WAY = ("Confirmation link accepted. Please proceed to confirm link sent to the other "
            "email")
PKCE_PARAMS_MESSAGE = "PKCE flow requires code_challenge_method and code_challenge"


@pytest.fixture
def mail_app(make_mail_app):
    """No resend spacing (the flows resend at once) and CALLBACK allowed as a redirect."""
    return make_mail_app(**{"smtp.max_frequency": timedelta(0),
                            "uri_allow_list": ("https://app.example.com/**",)})


@dataclass
class Verifier:
    verifier: str
    challenge: str
    method: str

    @classmethod
    def make(cls, method: str = "s256") -> "Verifier":
        verifier = secrets.token_urlsafe(48)
        if method.lower() == "plain":
            return cls(verifier, verifier, method)
        digest = hashlib.sha256(verifier.encode()).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), method)

    def body(self) -> dict:
        return {"code_challenge": self.challenge, "code_challenge_method": self.method}


@dataclass
class StartedFlow:
    user_id: str
    email: str
    # The links to follow in order; only the last one yields the code.
    links: list[str]
    authentication_method: str
    verify_type: str


def _to_callback(path: str) -> str:
    return f"{path}?{urlencode({'redirect_to': CALLBACK})}"


def start_signup(api, smtp, pkce: Verifier) -> StartedFlow:
    email = unique_email("v")
    response = api.post(_to_callback("/signup"), json={"email": email, "password": PASSWORD,
                                                       **pkce.body()})
    assert response.status_code == 200, response.get_json()
    return StartedFlow(response.get_json()["id"], email, [links(mail_to(smtp, email))[0]],
                       "email/signup", "signup")


def start_otp_new_user(api, smtp, pkce: Verifier) -> StartedFlow:
    email = unique_email("v")
    response = api.post(_to_callback("/otp"), json={"email": email, **pkce.body()})
    assert response.status_code == 200, response.get_json()
    user_id = api.admin("GET", "/admin/users?filter=" + email).get_json()["users"][0]["id"]
    return StartedFlow(user_id, email, [links(mail_to(smtp, email))[0]],
                       "email/signup", "signup")


def _start_sign_in_link(path: str, method: str, verify_type: str):
    def start(api, smtp, pkce: Verifier) -> StartedFlow:
        email = unique_email("v")
        user_id = create_user(api, email, password=PASSWORD)["id"]
        response = api.post(_to_callback(path), json={"email": email, **pkce.body()})
        assert response.status_code == 200, response.get_json()
        return StartedFlow(user_id, email, [links(mail_to(smtp, email))[0]], method,
                           verify_type)
    return start


def start_resend_signup(api, smtp, pkce: Verifier) -> StartedFlow:
    email = unique_email("v")
    response = api.signup(email, PASSWORD)
    assert response.status_code == 200, response.get_json()
    resent = api.post(_to_callback("/resend"), json={"type": "signup", "email": email,
                                                     **pkce.body()})
    assert resent.status_code == 200, resent.get_json()
    return StartedFlow(response.get_json()["id"], email, [links(mail_to(smtp, email, 2))[0]],
                       "email/signup", "signup")


def start_user_email_change(api, smtp, pkce: Verifier) -> StartedFlow:
    email = unique_email("v")
    user_id = create_user(api, email, password=PASSWORD)["id"]
    new = unique_email("v")
    session = sign_in(api, email)
    response = api.put(_to_callback("/user"), token=session["access_token"],
                       json={"email": new, **pkce.body()})
    assert response.status_code == 200, response.get_json()
    return StartedFlow(user_id, new, [links(mail_to(smtp, email))[0],
                                      links(mail_to(smtp, new))[0]],
                       "email_change", "email_change")


def start_resend_email_change(api, smtp, pkce: Verifier) -> StartedFlow:
    email = unique_email("v")
    user_id = create_user(api, email, password=PASSWORD)["id"]
    new = unique_email("v")
    session = sign_in(api, email)
    assert api.put("/user", token=session["access_token"], json={"email": new}).status_code == 200
    resent = api.post(_to_callback("/resend"), json={"type": "email_change", "email": email,
                                                     **pkce.body()})
    assert resent.status_code == 200, resent.get_json()
    return StartedFlow(user_id, new, [links(mail_to(smtp, new, 2))[0],
                                      links(mail_to(smtp, email, 2))[0]],
                       "email_change", "email_change")


FLOWS = {
    "signup": start_signup,
    "otp-new-user": start_otp_new_user,
    "otp": _start_sign_in_link("/otp", "magiclink", "magiclink"),
    "magiclink": _start_sign_in_link("/magiclink", "magiclink", "magiclink"),
    "recover": _start_sign_in_link("/recover", "recovery", "recovery"),
    "resend-signup": start_resend_signup,
    "resend-email-change": start_resend_email_change,
    "user-email-change": start_user_email_change,
}


def flows_of(app, user_id) -> list[FlowState]:
    return [row[0] for row in table_rows(app, sa.select(FlowState).where(
        FlowState.user_id == uuid.UUID(str(user_id))).order_by(FlowState.created_at))]


def exchange(api: ApiClient, auth_code: str, verifier: str):
    return api.post("/token?grant_type=pkce",
                    json={"auth_code": auth_code, "code_verifier": verifier})


def follow_to_code(api: ApiClient, started: StartedFlow) -> str:
    """GET every link; the halves of an email change say so, the last one gives ``?code=``."""
    for link in started.links[:-1]:
        response = api.get(path_of(link))
        assert response.status_code == 303
        location = urlsplit(response.headers["Location"])
        assert parse_qsl(location.query) == [("message", HALF_WAY)]
        assert fragment_pairs(response.headers["Location"]) == [("message", HALF_WAY), ("sb", "")]
    response = api.get(path_of(started.links[-1]))
    assert response.status_code == 303, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert location.fragment == ""
    query = parse_qsl(location.query)
    assert [key for key, _ in query] == ["code"], query
    return query[0][1]


# --- the whole flow, for every email flow and both methods -------------------------------------


@pytest.mark.parametrize("method", ["s256", "plain"])
@pytest.mark.parametrize("flow", list(FLOWS))
def test_pkce_email_flow(mail_app, mail_api, smtp_server, flow, method):
    pkce = Verifier.make(method)

    started = FLOWS[flow](mail_api, smtp_server, pkce)

    [state] = flows_of(mail_app, started.user_id)
    assert state.authentication_method == started.authentication_method
    assert state.code_challenge == pkce.challenge
    assert state.code_challenge_method.value == method
    assert state.auth_code_issued_at is None
    for link in started.links:
        params = query(link)
        assert params["token"].startswith("pkce_") and len(params["token"]) == 5 + 56
        assert params["type"] == started.verify_type and params["redirect_to"] == CALLBACK
    tokens = one_time_tokens(mail_app, started.user_id).values()
    assert all(token.token_hash.startswith("pkce_") for token in tokens)

    auth_code = follow_to_code(mail_api, started)

    assert auth_code == state.auth_code
    [issued] = flows_of(mail_app, started.user_id)
    assert issued.auth_code_issued_at is not None
    # The link gave a code, not a session.
    assert table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(started.user_id), Session.created_at > state.created_at
    )) == []
    user = user_row(mail_app, started.user_id)
    assert user.email == started.email and user.email_confirmed_at is not None
    assert one_time_tokens(mail_app, started.user_id) == {}

    response = exchange(mail_api, auth_code, pkce.verifier)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["token_type"] == "bearer" and body["user"]["id"] == started.user_id
    amr = verified_claims(body["access_token"])["amr"]
    assert [entry["method"] for entry in amr] == [started.authentication_method]
    assert flows_of(mail_app, started.user_id) == []
    me = mail_api.get("/user", token=body["access_token"])
    assert me.status_code == 200 and me.get_json()["email"] == started.email
    assert mail_api.refresh(body["refresh_token"]).status_code == 200


def test_method_is_case_insensitive(mail_app, mail_api, smtp_server):
    pkce = Verifier.make("S256")
    started = start_signup(mail_api, smtp_server, pkce)

    assert flows_of(mail_app, started.user_id)[0].code_challenge_method.value == "s256"
    assert exchange(mail_api, follow_to_code(mail_api, started), pkce.verifier).status_code == 200


def test_the_newest_flow_gets_the_code(mail_app, mail_api, smtp_server):
    email = unique_email("v")
    user_id = create_user(mail_api, email, password=PASSWORD)["id"]
    older, newer = Verifier.make(), Verifier.make()
    for pkce in (older, newer):
        assert mail_api.post(_to_callback("/magiclink"),
                             json={"email": email, **pkce.body()}).status_code == 200
    first_flow, second_flow = flows_of(mail_app, user_id)
    started = StartedFlow(user_id, email, [links(mail_to(smtp_server, email, 2))[0]],
                          "magiclink", "magiclink")

    auth_code = follow_to_code(mail_api, started)

    assert auth_code == second_flow.auth_code != first_flow.auth_code
    assert exchange(mail_api, auth_code, older.verifier).get_json()["code"] == "bad_code_verifier"
    assert exchange(mail_api, auth_code, newer.verifier).status_code == 200


# --- exchange errors ---------------------------------------------------------------------------


@pytest.fixture
def issued_code(mail_app, mail_api, smtp_server):
    """A magic-link PKCE flow whose link was followed: (user id, auth code, verifier)."""
    pkce = Verifier.make()
    started = FLOWS["recover"](mail_api, smtp_server, pkce)
    return started.user_id, follow_to_code(mail_api, started), pkce.verifier


def test_wrong_verifier_is_refused_and_keeps_the_flow(mail_app, mail_api, issued_code):
    user_id, auth_code, verifier = issued_code

    response = exchange(mail_api, auth_code, secrets.token_urlsafe(48))

    assert response.status_code == 400
    assert response.get_json() == {
        "code": "bad_code_verifier",
        "message": "code challenge does not match previously saved code verifier"}
    assert len(flows_of(mail_app, user_id)) == 1
    assert table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id))) == []
    assert exchange(mail_api, auth_code, verifier).status_code == 200


def test_plain_verifier_against_an_s256_challenge_is_refused(mail_app, mail_api, smtp_server):
    pkce = Verifier.make("s256")
    started = start_signup(mail_api, smtp_server, pkce)
    auth_code = follow_to_code(mail_api, started)

    response = exchange(mail_api, auth_code, pkce.challenge)

    assert response.status_code == 400 and response.get_json()["code"] == "bad_code_verifier"


def test_unknown_code_is_not_found(mail_api):
    response = exchange(mail_api, str(uuid.uuid4()), secrets.token_urlsafe(48))

    assert response.status_code == 404
    assert response.get_json() == {"code": "flow_state_not_found",
                                   "message": "invalid flow state, no valid flow state found"}


@pytest.mark.parametrize("body", [
    {"auth_code": "", "code_verifier": "x" * 43},
    {"auth_code": "0b8f9a43-6c1e-4d52-9a7e-2f4c1d3b5e60", "code_verifier": ""},
    {"auth_code": "0b8f9a43-6c1e-4d52-9a7e-2f4c1d3b5e60"},
    {},
])
def test_empty_fields_are_a_400(mail_api, body):
    response = mail_api.post("/token?grant_type=pkce", json=body or {"other": 1})

    assert response.status_code == 400
    assert response.get_json() == {
        "code": "validation_failed",
        "message": "invalid request: both auth code and code verifier should be non-empty"}


def test_code_works_once(mail_app, mail_api, issued_code):
    user_id, auth_code, verifier = issued_code
    assert exchange(mail_api, auth_code, verifier).status_code == 200

    again = exchange(mail_api, auth_code, verifier)

    assert again.status_code == 404 and again.get_json()["code"] == "flow_state_not_found"
    assert len(table_rows(mail_app, sa.select(Session.id).where(
        Session.user_id == uuid.UUID(user_id)))) == 1


def test_flow_expires_300_seconds_after_creation(mail_app, mail_api, issued_code):
    user_id, auth_code, verifier = issued_code
    [state] = flows_of(mail_app, user_id)

    freeze_clock(mail_app, state.created_at + timedelta(seconds=301))
    expired = exchange(mail_api, auth_code, verifier)
    freeze_clock(mail_app, state.created_at + timedelta(seconds=299))
    in_time = exchange(mail_api, auth_code, verifier)

    assert expired.status_code == 422
    assert expired.get_json() == {"code": "flow_state_expired",
                                  "message": "invalid flow state, flow state has expired"}
    assert in_time.status_code == 200, in_time.get_json()


def test_magic_link_flow_expiry_counts_from_the_code(mail_app, mail_api, smtp_server):
    pkce = Verifier.make()
    started = FLOWS["magiclink"](mail_api, smtp_server, pkce)
    [state] = flows_of(mail_app, started.user_id)
    # The link is opened 250 s after the request, the code exchanged 150 s later.
    freeze_clock(mail_app, state.created_at + timedelta(seconds=250))
    auth_code = follow_to_code(mail_api, started)

    freeze_clock(mail_app, state.created_at + timedelta(seconds=551))
    expired = exchange(mail_api, auth_code, pkce.verifier)
    freeze_clock(mail_app, state.created_at + timedelta(seconds=400))
    in_time = exchange(mail_api, auth_code, pkce.verifier)

    assert expired.status_code == 422 and expired.get_json()["code"] == "flow_state_expired"
    assert in_time.status_code == 200, in_time.get_json()


def test_other_flows_expiry_counts_from_creation_even_after_the_link(mail_app, mail_api,
                                                                     smtp_server):
    pkce = Verifier.make()
    started = FLOWS["recover"](mail_api, smtp_server, pkce)
    [state] = flows_of(mail_app, started.user_id)
    freeze_clock(mail_app, state.created_at + timedelta(seconds=250))
    auth_code = follow_to_code(mail_api, started)

    freeze_clock(mail_app, state.created_at + timedelta(seconds=400))
    response = exchange(mail_api, auth_code, pkce.verifier)

    assert response.status_code == 422 and response.get_json()["code"] == "flow_state_expired"


def test_link_of_a_vanished_flow_redirects_with_the_error(mail_app, mail_api, smtp_server):
    pkce = Verifier.make()
    started = FLOWS["magiclink"](mail_api, smtp_server, pkce)
    from gotrue_web.extensions import db
    with mail_app.app_context():
        db.session.execute(sa.delete(FlowState))
        db.session.commit()

    response = mail_api.get(path_of(started.links[0]))

    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    expected = [("error", "invalid_request"), ("error_code", "flow_state_not_found"),
                ("error_description",
                 "No associated flow state found. No valid flow state found for user.")]
    assert sorted(parse_qsl(location.query)) == expected
    assert sorted(fragment_pairs(response.headers["Location"])) == sorted(expected + [("sb", "")])
    # Nothing was spent: no session, the token is still there.
    assert table_rows(mail_app, sa.select(Session.id)) == []
    assert user_row(mail_app, started.user_id).recovery_token.startswith("pkce_")


# --- parameter validation on every flow --------------------------------------------------------


def _pkce_requests(api: ApiClient, email: str, pkce_body: dict):
    """Every email flow that accepts PKCE parameters, as (name, response)."""
    confirmed = create_user(api, email, password=PASSWORD)["email"]
    session = sign_in(api, confirmed)
    yield "signup", api.post("/signup", json={"email": unique_email("v"), "password": PASSWORD,
                                              **pkce_body})
    yield "otp", api.post("/otp", json={"email": confirmed, **pkce_body})
    yield "magiclink", api.post("/magiclink", json={"email": confirmed, **pkce_body})
    yield "recover", api.post("/recover", json={"email": confirmed, **pkce_body})
    yield "resend", api.post("/resend", json={"type": "signup", "email": confirmed,
                                              **pkce_body})
    yield "user", api.put("/user", token=session["access_token"],
                          json={"email": unique_email("v"), **pkce_body})


@pytest.mark.parametrize("pkce_body, message", [
    ({"code_challenge": "c" * 43}, PKCE_PARAMS_MESSAGE),
    ({"code_challenge_method": "s256"}, PKCE_PARAMS_MESSAGE),
    ({"code_challenge": "c" * 42, "code_challenge_method": "s256"}, None),
    ({"code_challenge": "c" * 129, "code_challenge_method": "s256"}, None),
    ({"code_challenge": "c" * 42 + "!", "code_challenge_method": "s256"}, None),
    ({"code_challenge": "c" * 42 + "é", "code_challenge_method": "plain"}, None),
    ({"code_challenge": "c" * 43, "code_challenge_method": "sha512"}, None),
])
def test_bad_pkce_parameters_are_refused_everywhere(mail_app, mail_api, smtp_server, pkce_body,
                                                    message):
    for name, response in _pkce_requests(mail_api, unique_email("v"), pkce_body):
        assert response.status_code == 400, (name, response.get_json())
        body = response.get_json()
        assert body["code"] == "validation_failed", (name, body)
        if message:
            assert body["message"] == message, (name, body)
    assert table_rows(mail_app, sa.select(FlowState.id)) == []
    assert smtp_server.messages == []
