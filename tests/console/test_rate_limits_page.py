"""The console's rate limits page, after real requests through the API of the same app: the
counter storage's status line, each limit with its busiest keys, reset per key, the locked
accounts with unlock (here and on the user's page), a Redis that does not answer, and the
settings page saying how the limits apply. Keys are what clients sent, so hostile ones must
come out escaped and still resettable."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from ..conftest import ApiClient, api_for
from ..factories import audit_entries, make_user, unique_email
from .conftest import OPERATOR_EMAIL, ConsoleClient, signed_in
from .support_users import unescape

PAGE = "/console/rate-limits"
DEAD_REDIS = "redis://127.0.0.1:1/0"
_FORM = re.compile(r'<form method="post" action="([^"]+)".*?</form>', re.S)
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)


# --- helpers ------------------------------------------------------------------------------------


def _setup(app) -> tuple[ConsoleClient, ApiClient]:
    return signed_in(app), api_for(app)


def _verify(api: ApiClient, address: str, headers: dict | None = None):
    """A wrong code for nobody: the verify limit counts it (403 until the limit, then 429)."""
    return api.client.post("/auth/v1/verify", headers={**api.headers(), **(headers or {})},
                           environ_base={"REMOTE_ADDR": address},
                           json={"type": "email", "email": "nobody@example.com",
                                 "token": "123456"})


def _login(api: ApiClient, email: str, password: str, address: str):
    return api.client.post("/auth/v1/token?grant_type=password", headers=api.headers(),
                           environ_base={"REMOTE_ADDR": address},
                           json={"email": email, "password": password})


def _page(console: ConsoleClient, path: str = PAGE) -> str:
    response = console.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _section(page: str, section_id: str) -> str:
    """What the section with this id holds (after its opening tag)."""
    start = page.index(">", page.index(f'id="{section_id}"')) + 1
    return page[start:page.index("</section>", start)]


def _text(html: str) -> str:
    """The text a reader sees, on one line."""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return unescape(re.sub(r" ([:,.;)])", r"\1", text)).strip()


def _rows(section: str) -> list[str]:
    """The table rows of a section as text, in order."""
    return [_text(row) for row in _ROW.findall(section) if "<td" in row]


def _form_of(section: str, row_text: str) -> tuple[str, dict]:
    """The action and the fields of the form in the table row whose text contains
    ``row_text``, as the browser would post them."""
    [row] = [row for row in _ROW.findall(section) if row_text in _text(row)]
    action, = _FORM.findall(row)
    form = _FORM.search(row).group(0)
    return unescape(action), {name: unescape(value) for name, value in _HIDDEN.findall(form)}


def _toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def _locked_owner(app, api: ApiClient, *, guesser: str = "203.0.113.10") -> tuple[str, str]:
    """A user whose password sign-in one client has locked with 3 wrong passwords."""
    email = unique_email("owner")
    user_id = str(make_user(app, email, password="the-owners-password"))
    for _ in range(3):
        assert _login(api, email, "guess", guesser).status_code == 400
    assert _login(api, email, "the-owners-password", guesser).status_code == 429
    return email, user_id


@pytest.fixture
def limited_app(make_app):
    return make_app(**{"mailer.autoconfirm": True, "rate_limit.verify": 3,
                       "rate_limit.password_failures_per_client": 3,
                       "external.anonymous_users_enabled": True})


# --- the page -----------------------------------------------------------------------------------


def test_every_limit_is_listed_with_what_it_counts_its_setting_and_window(limited_app):
    console, _ = _setup(limited_app)
    page = _page(console)
    expected = {
        "verify": ("3 per 5m", "GOTRUE_RATE_LIMIT_VERIFY", "client address"),
        "token": ("150 per 5m", "GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "client address"),
        "otp": ("30 per 5m", "GOTRUE_RATE_LIMIT_OTP", "client address"),
        "anonymous": ("30 per 1h", "GOTRUE_RATE_LIMIT_ANONYMOUS_USERS", "client address"),
        "email_client": ("10 per 1h", "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_CLIENT",
                         "client address"),
        "email_address": ("5 per 1h", "GOTRUE_RATE_LIMIT_EMAIL_SENT_PER_ADDRESS",
                          "recipient address"),
        "password_account": ("100 per 1h", "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES",
                             "account (the email or phone tried)"),
        "password_client": ("3 per 15m", "GOTRUE_RATE_LIMIT_PASSWORD_FAILURES_PER_CLIENT",
                            "account and client together"),
    }
    for name, (limit, setting, keyed_by) in expected.items():
        section = _text(_section(page, f"limit-{name}"))
        assert section.startswith(f"{name}: {limit}"), section
        assert setting in section and keyed_by in section
        assert "No key has a count" in section
    # The email budgets refuse while the storage is down; the request limits count per worker.
    assert "refuses" in _text(_section(page, "limit-email_address"))
    assert "counts per worker" in _text(_section(page, "limit-verify"))
    email = _text(_section(page, "limit-email-sent"))
    assert "GOTRUE_RATE_LIMIT_EMAIL_SENT = 30" in email and "turns this budget off" in email
    # In the navigation, marked as the current page.
    assert re.search(r'<a class="nav active" href="/console/rate-limits"\s+aria-current="page">'
                     r"Rate limits</a>", page)


def test_each_limit_shows_the_clients_that_used_it_busiest_first(limited_app):
    console, api = _setup(limited_app)
    for address, times in (("203.0.113.7", 3), ("198.51.100.1", 1)):
        for _ in range(times):
            assert _verify(api, address).status_code == 403
    assert _verify(api, "203.0.113.7").status_code == 429
    email = unique_email("guessed")
    assert _login(api, email, "guess", "192.0.2.33").status_code == 400
    response = api.client.post("/auth/v1/signup", json={}, headers=api.headers(),
                               environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert response.status_code == 200
    response = api.client.post("/auth/v1/otp", json={"email": email, "create_user": False},
                               headers=api.headers(), environ_base={"REMOTE_ADDR": "192.0.2.55"})
    assert response.status_code == 422

    page = _page(console)
    verify = _rows(_section(page, "limit-verify"))
    assert len(verify) == 2
    # The refused fourth request is not counted: the window holds the limit's worth.
    assert re.fullmatch(r"203\.0\.113\.7 3 / 3 spent \S+ Reset 203\.0\.113\.7 in verify",
                        verify[0]), verify
    assert verify[1].startswith("198.51.100.1 1 / 3 ")
    assert _rows(_section(page, "limit-token"))[0].startswith("192.0.2.33 1 / 150 ")
    assert _rows(_section(page, "limit-anonymous"))[0].startswith("192.0.2.44 1 / 30 ")
    # The signup (anonymous) went to its own bucket; only /otp counted in otp.
    assert [row.split()[0] for row in _rows(_section(page, "limit-otp"))] == ["192.0.2.55"]
    assert _rows(_section(page, "limit-password_account"))[0].startswith(
        f"email:{email} 1 / 100 ")
    assert _rows(_section(page, "limit-password_client"))[0].startswith(
        f"email:{email} 192.0.2.33 1 / 3 ")
    # One wrong password locks nothing yet.
    assert "No account is locked now." in _section(page, "locked-accounts")
    # htmx asks for the block alone, which varies with HX-Request.
    fragment = console.get(PAGE, htmx=True)
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="rate-limits">')
    assert "HX-Request" in fragment.headers["Vary"]


def test_the_memory_storage_is_called_this_process_only(limited_app):
    console, _ = _setup(limited_app)
    status = _text(_section(_page(console), "rate-limit-storage"))
    assert status.startswith("Counter storage Answering Memory of this process only — not for "
                             "production with several workers."), status
    assert "Per-client limits count each client address." in status


def test_the_global_email_budget_counts_the_mail_log(make_mail_app):
    app = make_mail_app(**{"rate_limit.email_sent": "20/30m"})
    console, api = _setup(app)
    email = unique_email("mailed")
    make_user(app, email, password="the-owners-password")
    assert api.post("/recover", json={"email": email}).status_code == 200
    section = _text(_section(_page(console), "limit-email-sent"))
    assert "Emails from the whole server: 20 per 30m" in section
    assert "Used 1 / 20 in the last 30m" in section


# --- keys as clients send them -------------------------------------------------------------------


HOSTILE = '"><script>alert(1)</script>\x01\x7f'


def test_hostile_keys_are_escaped_and_can_still_be_reset(make_app):
    app = make_app(**{"rate_limit.header": "X-Client", "rate_limit.verify": 2})
    console, api = _setup(app)
    for _ in range(2):
        assert _verify(api, "192.0.2.9", {"X-Client": HOSTILE}).status_code == 403
    assert _verify(api, "192.0.2.9", {"X-Client": HOSTILE}).status_code == 429
    email = '"><img src=x onerror=alert(1)>\u202e@example.com'
    assert _login(api, email, "guess", "192.0.2.9").status_code == 400

    page = _page(console)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\x01\\x7f" in page
    # A right-to-left override would turn the rest of the row around: shown as an escape.
    assert "\u202e" not in page and "\\u202e@example.com" in page
    assert ("Per-client limits count each client (first value of the X-Client header, else "
            "its address).") in _text(_section(page, "rate-limit-storage"))
    action, fields = _form_of(_section(page, "limit-verify"), "alert(1)")
    response = console.post(action, fields)
    assert response.status_code == 303
    # The key as the client sent it was cleared: that client may verify again.
    assert _verify(api, "192.0.2.9", {"X-Client": HOSTILE}).status_code == 403
    [entry] = audit_entries(app, "rate_limit_reset")
    assert entry["traits"] == {"bucket": "verify", "key": '"><script>alert(1)</script>\\x01\\x7f',
                               "count": 2}


def test_a_very_long_key_is_cut_on_the_page_but_reset_whole(make_app):
    app = make_app(**{"rate_limit.header": "X-Client", "rate_limit.verify": 1})
    console, api = _setup(app)
    key = "k" * 5000
    assert _verify(api, "192.0.2.10", {"X-Client": key}).status_code == 403
    assert _verify(api, "192.0.2.10", {"X-Client": key}).status_code == 429
    section = _section(_page(console), "limit-verify")
    assert "k" * 200 + "…" in section and "k" * 201 not in section
    action, fields = _form_of(section, "k" * 200)
    response = console.post(action, fields, htmx=True)
    assert response.status_code == 200
    assert len(_toast(response)["message"]) < 200
    assert _verify(api, "192.0.2.10", {"X-Client": key}).status_code == 403


# --- reset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_reset_clears_one_key_and_is_audited(limited_app, htmx):
    app = limited_app
    console, api = _setup(app)
    console.client.environ_base["REMOTE_ADDR"] = "198.51.100.23"
    for address in ("203.0.113.7",) * 3 + ("203.0.113.8",) * 3:
        assert _verify(api, address).status_code == 403
    assert _verify(api, "203.0.113.7").status_code == 429

    action, fields = _form_of(_section(_page(console), "limit-verify"), "203.0.113.7")
    assert action == "/console/rate-limits/reset" and fields["bucket"] == "verify"
    response = console.post(action, fields, htmx=htmx)
    if htmx:
        assert response.status_code == 200
        assert _toast(response) == {"message": "The verify count of 203.0.113.7 was reset "
                                               "(it was 3).", "kind": "ok"}
        section = _section(response.get_data(as_text=True), "limit-verify")
    else:
        assert response.status_code == 303 and response.headers["Location"].endswith(PAGE)
        page = _page(console)
        assert "The verify count of 203.0.113.7 was reset (it was 3)." in page
        section = _section(page, "limit-verify")
    assert [row.split()[0] for row in _rows(section)] == ["203.0.113.8"]
    assert _verify(api, "203.0.113.7").status_code == 403
    # The other client's count is untouched.
    assert _verify(api, "203.0.113.8").status_code == 429

    [entry] = audit_entries(app, "rate_limit_reset")
    assert entry["actor_username"] == OPERATOR_EMAIL and entry["actor_name"] == "operator"
    assert entry["log_type"] == "operator" and entry["ip_address"] == "198.51.100.23"
    assert entry["traits"] == {"bucket": "verify", "key": "203.0.113.7", "count": 3}


@pytest.mark.parametrize("fields, message", [
    ({"bucket": "nope", "key": "MjAzLjAuMTEzLjc="}, "There is no such rate limit."),
    ({"bucket": "verify", "key": "not base64!"}, "That key could not be read."),
    ({"bucket": "verify", "key": "//79"}, "That key could not be read."),
])
def test_a_reset_the_page_did_not_offer_is_refused_without_an_entry(limited_app, fields,
                                                                    message):
    console, api = _setup(limited_app)
    assert _verify(api, "203.0.113.7").status_code == 403
    response = console.post("/console/rate-limits/reset", fields, htmx=True)
    assert response.status_code == 422
    assert message in _toast(response)["message"]
    assert message in response.get_data(as_text=True)
    assert _rows(_section(_page(console), "limit-verify"))[0].startswith("203.0.113.7 1 / 3")
    assert audit_entries(limited_app, "rate_limit_reset") == []


def test_a_reset_needs_the_csrf_token(limited_app):
    console, api = _setup(limited_app)
    for _ in range(3):
        _verify(api, "203.0.113.7")
    _, fields = _form_of(_section(_page(console), "limit-verify"), "203.0.113.7")
    del fields["csrf_token"]
    for htmx in (False, True):
        response = console.post("/console/rate-limits/reset", fields, htmx=htmx, csrf=False)
        assert response.status_code == 400
        assert "This form has expired" in response.get_data(as_text=True)
    assert _verify(api, "203.0.113.7").status_code == 429
    assert audit_entries(limited_app, "rate_limit_reset") == []


def test_someone_not_signed_in_is_sent_to_the_login(limited_app):
    api = api_for(limited_app)
    for _ in range(3):
        _verify(api, "203.0.113.7")
    anonymous = ConsoleClient(limited_app.test_client())
    response = anonymous.get(PAGE)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")
    token = "MjAzLjAuMTEzLjc="  # base64 of 203.0.113.7
    for path, fields in (("/console/rate-limits/reset", {"bucket": "verify", "key": token}),
                         ("/console/rate-limits/unlock", {"account": token})):
        response = anonymous.post(path, fields)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/console/login")
    assert _verify(api, "203.0.113.7").status_code == 429
    assert audit_entries(limited_app, "rate_limit_reset") == []


# --- locked accounts -----------------------------------------------------------------------------


def test_unlock_lets_a_locked_account_sign_in_again(limited_app):
    app = limited_app
    console, api = _setup(app)
    email, user_id = _locked_owner(app, api)

    section = _section(_page(console), "locked-accounts")
    [row] = _rows(section)
    assert row.startswith(f"{email} email from 203.0.113.10: 3 / 3 wrong passwords, unlocks by "
                          "itself in "), row
    assert f'href="/console/users/{user_id}"' in section
    action, fields = _form_of(section, email)
    assert action == "/console/rate-limits/unlock"
    response = console.post(action, fields, htmx=True)
    assert response.status_code == 200
    assert _toast(response)["message"] == f"Password sign-in unlocked for {email}."
    assert "No account is locked now." in _section(response.get_data(as_text=True),
                                                   "locked-accounts")
    assert _login(api, email, "the-owners-password", "203.0.113.10").status_code == 200

    [entry] = audit_entries(app, "account_unlocked")
    assert entry["actor_username"] == OPERATOR_EMAIL and entry["ip_address"] == "127.0.0.1"
    assert entry["traits"]["account"] == f"email:{email}"
    assert entry["traits"]["user_id"] == user_id


def test_an_account_locked_from_everywhere_is_shown_and_unlocked(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "rate_limit.password_failures": 4})
    console, api = _setup(app)
    email = unique_email("target")
    make_user(app, email, password="the-owners-password")
    for n in range(4):
        assert _login(api, email, "guess", f"10.1.0.{n}").status_code == 400
    assert _login(api, email, "the-owners-password", "198.51.100.99").status_code == 429

    section = _section(_page(console), "locked-accounts")
    assert "from every client: 4 / 4 wrong passwords" in _text(section)
    action, fields = _form_of(section, email)
    assert console.post(action, fields).status_code == 303
    assert _login(api, email, "the-owners-password", "198.51.100.99").status_code == 200


def test_an_unknown_account_can_be_locked_and_unlocked_too(limited_app):
    console, api = _setup(limited_app)
    nobody = unique_email("nobody")
    for _ in range(3):
        _login(api, nobody, "guess", "203.0.113.11")
    section = _section(_page(console), "locked-accounts")
    assert "no user with this address" in _text(section)
    action, fields = _form_of(section, nobody)
    assert console.post(action, fields).status_code == 303
    [entry] = audit_entries(limited_app, "account_unlocked")
    assert entry["traits"] == {"account": f"email:{nobody}"}


def test_unlock_refuses_what_is_not_an_account(limited_app):
    console, _ = _setup(limited_app)
    for token in ("MjAzLjAuMTEzLjc=", "", "ZW1haWw6"):  # "203.0.113.7", "", "email:"
        response = console.post("/console/rate-limits/unlock", {"account": token}, htmx=True)
        assert response.status_code == 422
        assert _toast(response)["message"] == "That is not an account."
    assert audit_entries(limited_app, "account_unlocked") == []


def test_the_users_page_shows_the_lock_and_unlocks_it(limited_app):
    app = limited_app
    console, api = _setup(app)
    email, user_id = _locked_owner(app, api)
    page = _page(console, f"/console/users/{user_id}")
    notice = _text(page[page.index(">", page.index('id="password-lockout"')) + 1:])
    assert notice.startswith(f"Password sign-in is locked for {email} from 203.0.113.10 (3 / 3 "
                             "wrong passwords, unlocks by itself in "), notice

    response = console.post(f"/console/users/{user_id}/unlock", htmx=True)
    assert response.status_code == 200
    assert _toast(response) == {"message": f"Password sign-in unlocked for {email}.",
                                "kind": "ok"}
    assert 'id="password-lockout"' not in response.get_data(as_text=True)
    assert _login(api, email, "the-owners-password", "203.0.113.10").status_code == 200
    [entry] = audit_entries(app, "account_unlocked")
    assert entry["traits"]["user_id"] == user_id and entry["actor_username"] == OPERATOR_EMAIL
    # The user's timeline shows it.
    assert "account_unlocked" in _page(console, f"/console/users/{user_id}")


def test_a_user_without_a_lock_shows_nothing_and_another_accounts_keys_do_not_count(
        limited_app):
    console, api = _setup(limited_app)
    email = unique_email("owner")
    user_id = make_user(limited_app, email, password="the-owners-password")
    # An address that starts like the user's, with a space: another account entirely.
    for _ in range(3):
        _login(api, f"{email} 203.0.113.10", "guess", "198.51.100.5")
    page = _page(console, f"/console/users/{user_id}")
    assert 'id="password-lockout"' not in page
    section = _section(_page(console), "locked-accounts")
    assert _rows(section)[0].startswith(f"{email} 203.0.113.10 email")


# --- the storage does not answer -----------------------------------------------------------------


def test_a_redis_that_does_not_answer_is_shown_as_an_outage(make_app):
    app = make_app(**{"mailer.autoconfirm": True, "rate_limit.storage_url": DEAD_REDIS})
    console, api = _setup(app)
    # The limit still holds meanwhile, counted in this process's memory.
    allowed = app.extensions["gotrue"].limiter.limit_of("verify").amount
    statuses = [_verify(api, "203.0.113.7").status_code for _ in range(allowed + 2)]
    assert statuses == [403] * allowed + [429, 429]

    page = _page(console)
    status = _text(_section(page, "rate-limit-storage"))
    assert status.startswith("Counter storage Not answering Redis at redis://127.0.0.1:1/0")
    assert ("Until the storage answers, request limits count in each worker's memory (verify, "
            "token, otp, anonymous, mfa, sso, saml_assertion, oauth_client_register, web3, "
            "passkey, password_account, password_client)"
            ) in status
    assert "Emails are refused (email_client, email_address fail closed)" in status
    assert "Texted codes are refused too (sms_sent fails closed" in status
    assert "The counts cannot be read now" in _text(_section(page, "limit-verify"))
    assert "Locked accounts cannot be read now" in _text(_section(page, "locked-accounts"))
    assert "Reset" not in _section(page, "limit-verify")

    token = "MjAzLjAuMTEzLjc="
    response = console.post("/console/rate-limits/reset", {"bucket": "verify", "key": token},
                            htmx=True)
    assert response.status_code == 422
    assert _toast(response)["message"].startswith("The counter storage does not answer")
    assert audit_entries(app, "rate_limit_reset") == []

    email = unique_email("owner")
    user_id = make_user(app, email, password="the-owners-password")
    user_page = _page(console, f"/console/users/{user_id}")
    assert "Whether password sign-in is locked cannot be told now" in user_page
    response = console.post(f"/console/users/{user_id}/unlock", htmx=True)
    assert response.status_code == 422
    assert audit_entries(app, "account_unlocked") == []

    settings = _page(console, "/console/settings")
    warnings = _text(_section(settings, "settings-warnings"))
    assert "The rate-limit counter storage does not answer" in warnings
    assert "redis://127.0.0.1:1/0 cannot be reached" in warnings


# --- the settings page ---------------------------------------------------------------------------


def test_the_settings_page_says_how_the_limits_apply(make_app):
    console, _ = _setup(make_app())
    page = _page(console, "/console/settings")
    limits = _text(_section(page, "settings-rate_limit"))
    assert "rate_limit.header not set: per-client limits count the client address" in limits
    assert "rate_limit.storage_url memory://: this process only (not for several workers)" in (
        limits)
    warnings = _text(_section(page, "settings-warnings"))
    assert "Rate limits are counted in one process only" in warnings

    secret = uuid.uuid4().hex
    console = signed_in(make_app(**{
        "rate_limit.header": "X-Real-IP",
        "rate_limit.storage_url": f"redis://:{secret}@127.0.0.1:1/0"}), "second@example.com")
    page = _page(console, "/console/settings")
    limits = _text(_section(page, "settings-rate_limit"))
    assert "X-Real-IP: per-client limits count its first value (else the client address)" in (
        limits)
    assert "redis://:***@127.0.0.1:1/0: shared by every server using it" in limits
    assert "redis://:***@127.0.0.1:1/0 cannot be reached" in _text(
        _section(page, "settings-warnings"))
    assert secret not in page and "counted in one process only" not in page

    # A Redis that answers: nothing to warn about.
    console = signed_in(make_app(**{"rate_limit.storage_url": "redis://127.0.0.1:6379/0"}),
                        "third@example.com")
    page = _page(console, "/console/settings")
    assert "counted in one process only" not in page and "does not answer" not in page
