"""Leaked and common passwords (abuse defences, issue 8): every way a new password is set
refuses one that the Pwned Passwords range API has seen in a breach (GOTRUE_PASSWORD_HIBP_*) or
that is on the shipped list of common passwords (on by default), with 422 weak_password and the
reason "pwned". The range API is a loopback server that records what it was sent."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from gotrue_web.models import User

from ..conftest import api_for
from ..factories import count, create_user, sign_in, unique_email, user_row
from ..support.pwned_passwords import RangeAPIServer, sha1_hex

PWNED_MESSAGE = "Password is known to be weak and easy to guess, please choose a different one."
HIBP_DOWN = "Unable to perform password strength check with HaveIBeenPwned.org."
# Not on the common list: only the range API knows these.
BREACHED = "tangerine-velvet-1987"
SEEN_BUT_ZERO = "quiet-lantern-harbour-5"
UNSEEN = "orbit-saffron-meadow-31"


@pytest.fixture
def range_api(servers):
    return servers(RangeAPIServer({BREACHED: 4213, SEEN_BUT_ZERO: 0}))


@pytest.fixture
def hibp_app(make_app, range_api):
    """Autoconfirm on, HIBP on against the loopback range API."""

    def build(**overrides):
        return make_app(**{"mailer.autoconfirm": True, "password.hibp_enabled": True,
                           "password.hibp_url": range_api.url,
                           "password.hibp_timeout": timedelta(seconds=2), **overrides})

    return build


@pytest.fixture
def hibp_api(hibp_app, service_role_token):
    return api_for(hibp_app(), service_role_token)


def assert_pwned(response, reasons=("pwned",), message=PWNED_MESSAGE):
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json() == {"code": "weak_password", "message": message,
                                   "weak_password": {"reasons": list(reasons)}}


def assert_only_the_prefix_left(range_api, password: str, requests: int = 1):
    """The range API saw GET /range/<first 5 hex digits>, padded, and nothing more."""
    digest = sha1_hex(password)
    assert range_api.paths == [f"/range/{digest[:5]}"] * requests
    for request in range_api.requests:
        assert request.headers["Add-Padding"] == "true"
        assert request.headers["User-Agent"] == "gotrue-web"
        assert digest[5:] not in request.raw.upper()
        assert password not in request.raw


# --- the range API -------------------------------------------------------------------------------


def test_a_breached_password_is_refused_at_signup_and_only_the_prefix_is_sent(
        hibp_api, range_api):
    email = unique_email("breached")
    assert_pwned(hibp_api.signup(email, BREACHED))
    assert user_row(hibp_api.client.application, email) is None
    assert_only_the_prefix_left(range_api, BREACHED)


def test_an_unseen_password_signs_up_and_signs_in(hibp_api, range_api):
    email = unique_email("unseen")
    session = hibp_api.signup(email, UNSEEN)
    assert session.status_code == 200, session.get_data(as_text=True)
    assert session.get_json()["user"]["email"] == email
    assert_only_the_prefix_left(range_api, UNSEEN)
    assert sign_in(hibp_api, email, UNSEEN)["weak_password"] is None


def test_a_padding_line_for_the_same_suffix_is_not_a_breach(hibp_api, range_api):
    # Add-Padding answers list decoys with a count of 0; one may carry the very suffix.
    assert hibp_api.signup(unique_email("padding"), SEEN_BUT_ZERO).status_code == 200
    assert_only_the_prefix_left(range_api, SEEN_BUT_ZERO)


def test_a_url_with_a_path_prefix_is_kept(make_app, servers):
    """GOTRUE_PASSWORD_HIBP_URL may name a proxy path; /range/<prefix> is appended to it."""
    proxied = servers(RangeAPIServer({BREACHED: 3}))
    app = make_app(**{"mailer.autoconfirm": True, "password.hibp_enabled": True,
                      "password.hibp_url": proxied.url + "/hibp"})
    assert_pwned(api_for(app).signup(unique_email("proxy"), BREACHED))
    assert proxied.paths == [f"/hibp/range/{sha1_hex(BREACHED)[:5]}"]


def test_put_user_refuses_a_breached_password_and_keeps_the_old_one(hibp_api, range_api):
    email = unique_email("update")
    session = hibp_api.signup(email, UNSEEN).get_json()
    response = hibp_api.put("/user", token=session["access_token"], json={"password": BREACHED})
    assert_pwned(response)
    assert hibp_api.login(email, BREACHED).status_code == 400
    sign_in(hibp_api, email, UNSEEN)


@pytest.mark.parametrize("link_type", ["invite", "recovery"])
def test_accepting_an_invite_or_a_recovery_cannot_set_a_breached_password(
        hibp_api, range_api, link_type):
    """Invite acceptance and password recovery set the password through PUT /user."""
    email = unique_email(link_type)
    if link_type == "recovery":
        create_user(hibp_api, email, password=UNSEEN)
    link = hibp_api.admin("POST", "/admin/generate_link", json={"type": link_type, "email": email})
    assert link.status_code == 200, link.get_data(as_text=True)
    verified = hibp_api.post("/verify", json={"type": link_type, "email": email,
                                              "token": link.get_json()["email_otp"]})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    token = verified.get_json()["access_token"]
    assert_pwned(hibp_api.put("/user", token=token, json={"password": BREACHED}))
    assert hibp_api.login(email, BREACHED).status_code == 400
    accepted = hibp_api.put("/user", token=token, json={"password": "another-" + UNSEEN})
    assert accepted.status_code == 200, accepted.get_data(as_text=True)


def test_admin_update_refuses_a_breached_password(hibp_api, range_api):
    email = unique_email("admin")
    user = create_user(hibp_api, email, password=UNSEEN)
    response = hibp_api.admin("PUT", f"/admin/users/{user['id']}", json={"password": BREACHED})
    assert_pwned(response)
    sign_in(hibp_api, email, UNSEEN)


def test_generate_link_signup_refuses_a_breached_password(hibp_api, range_api):
    email = unique_email("link")
    response = hibp_api.admin("POST", "/admin/generate_link",
                              json={"type": "signup", "email": email, "password": BREACHED})
    assert_pwned(response)
    assert user_row(hibp_api.client.application, email) is None


def test_admin_create_does_not_check_strength_as_in_gotrue(hibp_api, range_api):
    # GoTrue's POST /admin/users applies no strength rule (api-contract §3 and §12.19).
    create_user(hibp_api, unique_email("imported"), password=BREACHED)
    assert range_api.paths == []


def test_the_password_grant_reports_a_breached_password_but_signs_in(hibp_api, range_api):
    email = unique_email("login")
    create_user(hibp_api, email, password=BREACHED)
    session = sign_in(hibp_api, email, BREACHED)
    assert session["weak_password"] == {"message": PWNED_MESSAGE, "reasons": ["pwned"]}
    assert_only_the_prefix_left(range_api, BREACHED)


def test_a_wrong_password_never_reaches_the_range_api(hibp_api, range_api):
    email = unique_email("wrong")
    create_user(hibp_api, email, password=UNSEEN)
    assert hibp_api.login(email, BREACHED).status_code == 400
    assert range_api.paths == []


def test_hibp_off_asks_nothing(make_app, range_api):
    api = api_for(make_app(**{"mailer.autoconfirm": True, "password.hibp_url": range_api.url}))
    assert api.signup(unique_email("off"), BREACHED).status_code == 200
    assert range_api.paths == []


# --- when the range API fails ------------------------------------------------------------------


@pytest.fixture(params=["closed_port", "error", "garbage", "empty", "stall"])
def broken_url(request, servers):
    """A range API that cannot be reached, answers 503, answers a login page, answers
    nothing, or does not answer within the timeout."""
    if request.param == "closed_port":
        return f"http://127.0.0.1:{request.getfixturevalue('closed_port')}"
    return servers(RangeAPIServer({BREACHED: 1}, answer=request.param)).url


def test_fail_open_lets_the_password_through_and_logs_without_it(
        hibp_app, broken_url, caplog):
    app = hibp_app(**{"password.hibp_url": broken_url,
                      "password.hibp_timeout": timedelta(seconds=0.5)})
    email = unique_email("open")
    with caplog.at_level(logging.WARNING, logger="gotrue_web.passwords"):
        started = time.monotonic()
        response = api_for(app).signup(email, BREACHED)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert time.monotonic() - started < 5
    assert user_row(app, email) is not None
    [record] = [r for r in caplog.records if r.name == "gotrue_web.passwords"]
    assert record.levelno == logging.WARNING
    assert "pwned passwords are being allowed" in record.getMessage()
    digest = sha1_hex(BREACHED)
    for secret in (BREACHED, digest, digest[:5], digest[5:]):
        assert secret not in caplog.text


def test_fail_closed_refuses_with_500_and_writes_nothing(
        hibp_app, broken_url, service_role_token):
    app = hibp_app(**{"password.hibp_url": broken_url, "password.hibp_fail_closed": True,
                      "password.hibp_timeout": timedelta(seconds=0.5)})
    api = api_for(app, service_role_token)
    response = api.signup(unique_email("closed"), UNSEEN)
    assert response.status_code == 500
    assert response.get_json() == {"code": "unexpected_failure", "message": HIBP_DOWN}
    assert count(app, User) == 0


def test_fail_closed_keeps_other_paths_whole(hibp_app, closed_port, service_role_token):
    url = f"http://127.0.0.1:{closed_port}"
    app = hibp_app(**{"password.hibp_url": url, "password.hibp_fail_closed": True})
    api = api_for(app, service_role_token)
    email = unique_email("closed-update")
    user = create_user(api, email, password=UNSEEN)
    session = sign_in(api, email, UNSEEN)
    # The password grant only reports: a failed check signs in with weak_password null.
    assert session["weak_password"] is None
    for response in (api.put("/user", token=session["access_token"], json={"password": BREACHED}),
                     api.admin("PUT", f"/admin/users/{user['id']}", json={"password": BREACHED})):
        assert response.status_code == 500
        assert response.get_json()["code"] == "unexpected_failure"
    sign_in(api, email, UNSEEN)
    # A password refused for another reason gets that refusal, not the outage.
    assert_pwned(api.signup(unique_email("short"), "abc"), reasons=["length"],
                 message="Password should be at least 6 characters.")


# --- the common-password list ------------------------------------------------------------------


@pytest.mark.parametrize("password", ["password1234", "Password1234", "qwertyuiop", "iloveyou"])
def test_a_common_password_is_refused_by_default_without_asking_anyone(api, password):
    email = unique_email("common")
    assert_pwned(api.signup(email, password))
    assert user_row(api.client.application, email) is None


def test_a_common_password_is_refused_on_update_and_reported_at_sign_in(api, service_role_token):
    admin = api_for(api.client.application, service_role_token)
    email = unique_email("common-update")
    user = create_user(admin, email, password="letmein1")
    session = sign_in(api, email, "letmein1")
    assert session["weak_password"] == {"message": PWNED_MESSAGE, "reasons": ["pwned"]}
    assert_pwned(api.put("/user", token=session["access_token"],
                         json={"password": "trustno1"}))
    assert_pwned(admin.admin("PUT", f"/admin/users/{user['id']}", json={"password": "abc123"}))
    sign_in(api, email, "letmein1")


def test_every_reason_is_given_together(make_app):
    api = api_for(make_app(**{"mailer.autoconfirm": True, "password.min_length": 10}))
    assert_pwned(api.signup(unique_email("both"), "sunshine"), reasons=["length", "pwned"],
                 message="Password should be at least 10 characters. " + PWNED_MESSAGE)


def test_the_common_list_can_be_turned_off(make_app):
    api = api_for(make_app(**{"mailer.autoconfirm": True,
                              "password.common_list_enabled": False}))
    email = unique_email("listoff")
    assert api.signup(email, "password1234").status_code == 200
    assert sign_in(api, email, "password1234")["weak_password"] is None


def test_a_common_password_is_refused_before_the_range_api_is_asked(hibp_api, range_api):
    assert_pwned(hibp_api.signup(unique_email("both-on"), "football123"))
    assert range_api.paths == []


# --- GOTRUE_PASSWORD_HIBP_BLOOM_*: breaches remembered ------------------------------------------


def test_a_remembered_breach_is_refused_without_asking_again(hibp_app, range_api):
    api = api_for(hibp_app(**{"password.hibp_bloom_enabled": True}))
    assert_pwned(api.signup(unique_email("bloom"), BREACHED))
    assert_pwned(api.signup(unique_email("bloom"), BREACHED))
    assert_only_the_prefix_left(range_api, BREACHED, requests=1)
    # Still refused while the range API is down, even with HIBP failing open.
    range_api.answer = "error"
    assert_pwned(api.signup(unique_email("bloom"), BREACHED))
    assert len(range_api.paths) == 1
    # A password the API did not report is not remembered: each check asks.
    range_api.answer = "range"
    for _ in range(2):
        assert api.signup(unique_email("bloom"), UNSEEN).status_code == 200
    assert range_api.paths[1:] == [f"/range/{sha1_hex(UNSEEN)[:5]}"] * 2


def test_without_the_filter_every_check_asks(hibp_api, range_api):
    for _ in range(2):
        assert_pwned(hibp_api.signup(unique_email("nobloom"), BREACHED))
    assert_only_the_prefix_left(range_api, BREACHED, requests=2)


def test_a_full_filter_starts_over():
    from gotrue_web.transports.pwned_passwords import KnownPwned

    known = KnownPwned(items=2, false_positives=0.0000099)
    digests = [bytes.fromhex(sha1_hex(f"password-{n}")) for n in range(3)]
    for digest in digests[:2]:
        known.add(digest)
    assert all(digest in known for digest in digests[:2])
    assert digests[2] not in known
    known.add(digests[2])
    assert digests[2] in known
    assert digests[0] not in known and digests[1] not in known
