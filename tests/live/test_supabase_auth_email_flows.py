"""The official Python client (PyPI ``supabase_auth``) through every email flow, over real HTTP
with a real SMTP server: the test reads each message, types its code or opens its link the way a
browser would (no redirects followed), and hands the result back to the client.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from supabase_auth import SyncGoTrueAdminAPI, SyncGoTrueClient
from supabase_auth.errors import AuthApiError, AuthImplicitGrantRedirectError

from gotrue_web.models import FlowState, Identity, OneTimeToken, Session

from ..conftest import table_rows
from ..factories import mail_to, unique_email, user_row, verified_claims
from ..support.smtp import code, links

pytestmark = pytest.mark.live

PASSWORD = "password-123"
SITE = "http://localhost:3000"
CALLBACK = SITE + "/callback"


@pytest.fixture
def app(make_mail_app):
    """The app ``live_server`` serves: confirmations on, mail to the SMTP sink."""
    return make_mail_app(**{"smtp.max_frequency": timedelta(0)})


def _http_client() -> httpx.Client:
    # httpx's 5 s default is short for a loaded CI machine sending mail on every request.
    return httpx.Client(follow_redirects=True, timeout=30)


@pytest.fixture(params=["", "/auth/v1"], ids=["root", "auth-v1"])
def base_url(request, live_server) -> str:
    return live_server.url + request.param


@pytest.fixture
def make_client(base_url):
    clients = []

    def build(**options) -> SyncGoTrueClient:
        client = SyncGoTrueClient(url=base_url, headers={"apikey": "anon-key"},
                                  auto_refresh_token=False, persist_session=False,
                                  http_client=_http_client(), **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def admin(base_url, service_role_token):
    with SyncGoTrueAdminAPI(url=base_url, headers={
            "apikey": service_role_token, "Authorization": f"Bearer {service_role_token}"},
            http_client=_http_client()) as api:
        yield api


@pytest.fixture
def browser():
    """What opens the emailed link: an HTTP client that shows redirects instead of following."""
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        yield client


def open_link(browser: httpx.Client, live_server, link: str) -> httpx.Response:
    """Open an emailed link against the live server (the link names API_EXTERNAL_URL)."""
    parts = urlsplit(link)
    response = browser.get(f"{live_server.url}{parts.path}?{parts.query}")
    assert response.status_code == 303, response.text
    return response


def amr_methods(access_token: str) -> list[str]:
    return [entry["method"] for entry in verified_claims(access_token)["amr"]]


def confirmed_user(admin: SyncGoTrueAdminAPI) -> str:
    email = unique_email("live")
    admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})
    return email


def record_events(client: SyncGoTrueClient) -> list[str]:
    events: list[str] = []
    client.on_auth_state_change(lambda event, session: events.append(event))
    return events


# --- codes -------------------------------------------------------------------------------------


def test_sign_up_then_confirm_with_the_code(app, make_client, smtp_server):
    client = make_client()
    email = unique_email("live")

    signed_up = client.sign_up({"email": email, "password": PASSWORD})

    assert signed_up.session is None and signed_up.user.email == email
    assert signed_up.user.email_confirmed_at is None
    message = mail_to(smtp_server, email)

    verified = client.verify_otp({"email": email, "token": code(message), "type": "signup"})

    assert verified.session is not None and verified.user.email_confirmed_at is not None
    assert amr_methods(verified.session.access_token) == ["otp"]
    assert client.get_user().user.id == signed_up.user.id
    user = user_row(app, email)
    assert user.email_confirmed_at is not None and user.confirmation_token == ""
    assert user.raw_user_meta_data["email_verified"] is True
    assert table_rows(app, sa.select(OneTimeToken.id).where(OneTimeToken.user_id == user.id)) \
        == []
    [(identity_data,)] = table_rows(app, sa.select(Identity.identity_data).where(
        Identity.user_id == user.id))
    assert identity_data["email_verified"] is True
    # The password chosen at sign-up now works.
    assert make_client().sign_in_with_password(
        {"email": email, "password": PASSWORD}).session is not None


def test_magic_link_code_with_type_email(app, make_client, admin, smtp_server):
    email = confirmed_user(admin)
    client = make_client()

    client.sign_in_with_otp({"email": email, "options": {"should_create_user": False}})
    message = mail_to(smtp_server, email)
    assert parse_qs(urlsplit(links(message)[0]).query)["type"] == ["magiclink"]

    verified = client.verify_otp({"email": email, "token": code(message), "type": "email"})

    assert verified.session is not None and verified.user.email == email
    assert client.get_session().access_token == verified.session.access_token
    assert client.get_user().user.email == email
    assert user_row(app, email).recovery_token == ""


def test_sign_in_with_otp_signs_a_new_address_up(app, make_client, smtp_server):
    client = make_client()
    email = unique_email("live")

    client.sign_in_with_otp({"email": email})
    message = mail_to(smtp_server, email)
    verified = client.verify_otp({"email": email, "token": code(message), "type": "email"})

    assert verified.user.email_confirmed_at is not None
    assert user_row(app, email).email_confirmed_at is not None


def test_reset_password_with_the_code(app, make_client, admin, smtp_server):
    email = confirmed_user(admin)
    client = make_client()
    events = record_events(client)

    client.reset_password_for_email(email)
    message = mail_to(smtp_server, email)
    verified = client.verify_otp({"email": email, "token": code(message), "type": "recovery"})

    assert verified.session is not None and "PASSWORD_RECOVERY" in events
    updated = client.update_user({"password": "brand-new-pass-789"})
    assert updated.user.email == email
    with pytest.raises(AuthApiError) as old:
        make_client().sign_in_with_password({"email": email, "password": PASSWORD})
    assert old.value.code == "invalid_credentials"
    assert make_client().sign_in_with_password(
        {"email": email, "password": "brand-new-pass-789"}).session is not None


def test_reset_password_for_an_unknown_address_looks_the_same(make_client, smtp_server):
    email = unique_email("live")

    assert make_client().reset_password_for_email(email) is None

    assert smtp_server.to(email) == []


def test_wrong_and_reused_codes_raise_otp_expired(app, make_client, smtp_server):
    client = make_client()
    email = unique_email("live")
    client.sign_up({"email": email, "password": PASSWORD})
    right = code(mail_to(smtp_server, email))
    wrong = f"{(int(right) + 1) % 1000000:06d}"

    with pytest.raises(AuthApiError) as refused:
        client.verify_otp({"email": email, "token": wrong, "type": "signup"})
    assert (refused.value.status, refused.value.code, refused.value.message) == (
        403, "otp_expired", "Token has expired or is invalid")

    assert client.verify_otp({"email": email, "token": right, "type": "signup"}).session

    with pytest.raises(AuthApiError) as reused:
        make_client().verify_otp({"email": email, "token": right, "type": "signup"})
    assert (reused.value.status, reused.value.code) == (403, "otp_expired")


def test_expired_code_raises_otp_expired(app, make_client, smtp_server):
    rt = app.extensions["gotrue"]
    client = make_client()
    email = unique_email("live")
    client.sign_up({"email": email, "password": PASSWORD})
    message = mail_to(smtp_server, email)
    sent_at = user_row(app, email).confirmation_sent_at
    rt.clock = lambda: sent_at + timedelta(seconds=rt.settings.mailer.otp_exp + 1)

    with pytest.raises(AuthApiError) as expired:
        client.verify_otp({"email": email, "token": code(message), "type": "signup"})

    assert (expired.value.status, expired.value.code) == (403, "otp_expired")
    assert user_row(app, email).email_confirmed_at is None


def test_secure_email_change_with_codes(app, make_client, admin, smtp_server):
    email = confirmed_user(admin)
    client = make_client()
    client.sign_in_with_password({"email": email, "password": PASSWORD})
    new = unique_email("live")

    client.update_user({"email": new})
    current_code = code(mail_to(smtp_server, email))
    new_code = code(mail_to(smtp_server, new))

    half = client.verify_otp({"email": email, "token": current_code, "type": "email_change"})
    assert half.session is None and half.user is None
    assert user_row(app, email).email_change == new

    done = client.verify_otp({"email": new, "token": new_code, "type": "email_change"})
    assert done.session is not None and done.user.email == new
    assert client.get_user().user.email == new


# --- links -------------------------------------------------------------------------------------


def test_signup_link_gives_the_session_in_the_fragment(app, make_client, smtp_server, browser,
                                                        live_server):
    client = make_client()
    email = unique_email("live")
    client.sign_up({"email": email, "password": PASSWORD,
                    "options": {"email_redirect_to": CALLBACK}})

    response = open_link(browser, live_server, links(mail_to(smtp_server, email))[0])

    location = response.headers["location"]
    assert location.startswith(CALLBACK + "#access_token=")
    client.initialize_from_url(location)
    assert client.get_session() is not None
    assert client.get_user().user.email_confirmed_at is not None


def test_recovery_link_emits_password_recovery(app, make_client, admin, smtp_server, browser,
                                               live_server):
    email = confirmed_user(admin)
    client = make_client()
    events = record_events(client)
    client.reset_password_for_email(email, {"redirect_to": CALLBACK})

    response = open_link(browser, live_server, links(mail_to(smtp_server, email))[0])
    client.initialize_from_url(response.headers["location"])

    assert events[-2:] == ["SIGNED_IN", "PASSWORD_RECOVERY"]
    assert client.update_user({"password": "from-link-pass-321"}).user.email == email


def test_spent_link_raises_implicit_grant_redirect_error(app, make_client, smtp_server, browser,
                                                         live_server):
    client = make_client()
    email = unique_email("live")
    client.sign_up({"email": email, "password": PASSWORD})
    link = links(mail_to(smtp_server, email))[0]
    open_link(browser, live_server, link)

    again = open_link(browser, live_server, link)

    with pytest.raises(AuthImplicitGrantRedirectError) as refused:
        client.initialize_from_url(again.headers["location"])
    assert refused.value.message == "Email link is invalid or has expired"
    assert refused.value.details == {"code": "otp_expired", "error": "access_denied"}
    assert client.get_session() is None


# --- PKCE --------------------------------------------------------------------------------------


def code_from(response: httpx.Response, base: str = CALLBACK) -> str:
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == base
    assert location.fragment == ""
    query = parse_qs(location.query)
    assert list(query) == ["code"], query
    return query["code"][0]


def test_pkce_magic_link(app, make_client, admin, smtp_server, browser, live_server):
    email = confirmed_user(admin)
    client = make_client(flow_type="pkce")
    client.sign_in_with_otp({"email": email, "options": {"email_redirect_to": CALLBACK}})
    link = links(mail_to(smtp_server, email))[0]
    assert parse_qs(urlsplit(link).query)["token"][0].startswith("pkce_")
    user = user_row(app, email)
    [(method,)] = table_rows(app, sa.select(FlowState.authentication_method).where(
        FlowState.user_id == user.id))
    assert method == "magiclink"

    auth_code = code_from(open_link(browser, live_server, link))
    exchanged = client.exchange_code_for_session({"auth_code": auth_code})

    assert exchanged.session is not None and exchanged.user.email == email
    assert amr_methods(exchanged.session.access_token) == ["magiclink"]
    assert client.get_user().user.id == str(user.id)
    assert table_rows(app, sa.select(FlowState.id)) == []
    # The code was spent.
    with pytest.raises(AuthApiError) as again:
        client.exchange_code_for_session({"auth_code": auth_code, "code_verifier": "x" * 43})
    assert (again.value.status, again.value.code) == (404, "flow_state_not_found")


def test_pkce_sign_up(app, make_client, smtp_server, browser, live_server):
    client = make_client(flow_type="pkce")
    email = unique_email("live")
    signed_up = client.sign_up({"email": email, "password": PASSWORD,
                                "options": {"email_redirect_to": CALLBACK}})
    assert signed_up.session is None

    auth_code = code_from(open_link(browser, live_server, links(mail_to(smtp_server, email))[0]))
    exchanged = client.exchange_code_for_session({"auth_code": auth_code})

    assert exchanged.user.email_confirmed_at is not None
    assert amr_methods(exchanged.session.access_token) == ["email/signup"]


def test_pkce_password_recovery(app, make_client, admin, smtp_server, browser, live_server):
    email = confirmed_user(admin)
    client = make_client(flow_type="pkce")
    events = record_events(client)
    client.reset_password_for_email(email, {"redirect_to": CALLBACK})

    auth_code = code_from(open_link(browser, live_server, links(mail_to(smtp_server, email))[0]))
    exchanged = client.exchange_code_for_session({"auth_code": auth_code})

    assert events[-1] == "PASSWORD_RECOVERY"
    assert amr_methods(exchanged.session.access_token) == ["recovery"]
    client.update_user({"password": "pkce-new-pass-654"})
    assert make_client().sign_in_with_password(
        {"email": email, "password": "pkce-new-pass-654"}).session is not None


def test_pkce_wrong_verifier_raises_bad_code_verifier(app, make_client, admin, smtp_server,
                                                      browser, live_server):
    email = confirmed_user(admin)
    client = make_client(flow_type="pkce")
    client.sign_in_with_otp({"email": email, "options": {"email_redirect_to": CALLBACK}})
    auth_code = code_from(open_link(browser, live_server, links(mail_to(smtp_server, email))[0]))

    with pytest.raises(AuthApiError) as refused:
        client.exchange_code_for_session({"auth_code": auth_code, "code_verifier": "w" * 43})

    assert (refused.value.status, refused.value.code) == (400, "bad_code_verifier")
    # The right verifier (kept by the client) still works afterwards.
    assert client.exchange_code_for_session({"auth_code": auth_code}).session is not None


def test_pkce_code_typed_instead_of_the_link_still_signs_in(app, make_client, admin,
                                                            smtp_server):
    email = confirmed_user(admin)
    client = make_client(flow_type="pkce")
    client.sign_in_with_otp({"email": email})

    verified = client.verify_otp({"email": email, "token": code(mail_to(smtp_server, email)),
                                  "type": "email"})

    assert verified.session is not None and verified.user.email == email


# --- single use under concurrency --------------------------------------------------------------


@pytest.mark.parametrize("how", ["link", "code"])
def test_parallel_uses_of_one_token_give_one_session(app, make_client, smtp_server, live_server,
                                                     base_url, how):
    email = unique_email("live")
    make_client().sign_up({"email": email, "password": PASSWORD})
    message = mail_to(smtp_server, email)
    parts = urlsplit(links(message)[0])
    attempts = 8
    barrier = threading.Barrier(attempts)

    def use_once(_) -> str:
        with httpx.Client(follow_redirects=False, timeout=30) as http:
            barrier.wait()
            if how == "link":
                response = http.get(f"{live_server.url}{parts.path}?{parts.query}")
                location = response.headers.get("location", "")
                if "#access_token=" in location:
                    return "session"
                return "refused" if "error_code=otp_expired" in location else response.text
            response = http.post(f"{base_url}/verify", json={
                "type": "signup", "email": email, "token": code(message)})
            if response.status_code == 200:
                return "session"
            return "refused" if response.status_code == 403 else response.text

    with ThreadPoolExecutor(attempts) as pool:
        outcomes = list(pool.map(use_once, range(attempts)))

    # One winner; every other attempt is a clean refusal, never a server error.
    assert sorted(outcomes) == ["refused"] * (attempts - 1) + ["session"], outcomes
    user = user_row(app, email)
    assert len(table_rows(app, sa.select(Session.id).where(Session.user_id == user.id))) == 1


def test_parallel_exchanges_of_one_code_give_one_session(app, admin, smtp_server, live_server,
                                                         base_url, browser):
    email = confirmed_user(admin)
    verifier = "v" * 50
    sent = browser.post(f"{base_url}/otp", params={"redirect_to": CALLBACK}, json={
        "email": email, "code_challenge": verifier, "code_challenge_method": "plain"})
    assert sent.status_code == 200, sent.text
    auth_code = code_from(open_link(browser, live_server, links(mail_to(smtp_server, email))[0]))
    attempts = 8
    barrier = threading.Barrier(attempts)

    def exchange_once(_) -> str:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            response = http.post(f"{base_url}/token", params={"grant_type": "pkce"},
                                 json={"auth_code": auth_code, "code_verifier": verifier})
            if response.status_code == 200:
                return "session"
            if response.status_code == 404 and "flow_state_not_found" in response.text:
                return "refused"
            return response.text

    with ThreadPoolExecutor(attempts) as pool:
        outcomes = list(pool.map(exchange_once, range(attempts)))

    assert sorted(outcomes) == ["refused"] * (attempts - 1) + ["session"], outcomes
    user = user_row(app, email)
    assert len(table_rows(app, sa.select(Session.id).where(Session.user_id == user.id))) == 1
