"""The user detail page: fields, identities, factors, sessions, the audit timeline, and the
metadata editor (replace semantics through admin_users.update_user)."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from gotrue_web.console.operations import user_actions as console_actions

from ..factories import add_factor, audit_entries, create_user, unique_email, user_row
from .support_users import assert_operator_entry, operator_entries, unescape

# A well-formed id that no user has; fixed, so that every pytest-xdist worker collects the same
# tests.
NO_USER = "9d3c2b1a-8f7e-4d6c-b5a4-0e1f2a3b4c5d"


def _page(console, user_id, **kwargs):
    response = console.get(f"/console/users/{user_id}", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def _textarea(html: str, element_id: str) -> str:
    match = re.search(rf'<textarea id="{element_id}"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, html
    return match.group(1)


def _hidden(html: str, form_field: str, name: str) -> str:
    """The value of hidden input ``name`` in the metadata form for ``form_field``."""
    block = html[html.index(f'name="field" value="{form_field}"'):]
    return re.search(rf'name="{name}" value="([^"]*)"', block).group(1)


# --- the page -----------------------------------------------------------------------------------


def test_detail_shows_the_user_fields(console, api):
    email = unique_email("ada")
    user = create_user(api, email, phone="+15550001111", phone_confirm=True,
                       user_metadata={"full_name": "Ada Lovelace"},
                       app_metadata={"plan": "pro"}, role="editor")
    response = console.get(f"/console/users/{user['id']}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" in html and 'id="user-detail"' in html
    for text in (email, "+15550001111", user["id"], "editor", "authenticated",
                 'class="badge ok">Confirmed', "Ada Lovelace"):
        assert text in html, text
    # Identities: one per address the admin API created.
    identities = html[html.index('id="identities"'):html.index('id="factors"')]
    assert identities.count("<tr>") == 3  # header + email + phone
    assert ">email<" in identities and ">phone<" in identities
    assert json.loads(unescape(_textarea(html, "app_metadata-value")))["plan"] == "pro"


def test_unconfirmed_and_invited_users_get_their_badges(console, api):
    unconfirmed = create_user(api, unique_email(), email_confirm=False)
    assert 'class="badge warn">Unconfirmed' in _page(console, unconfirmed["id"])
    assert "Resend confirmation" in _page(console, unconfirmed["id"])
    invited = api.admin("POST", "/invite", json={"email": unique_email()}).get_json()
    html = _page(console, invited["id"])
    assert 'class="badge info">Invited' in html and "Resend invitation" in html


@pytest.mark.parametrize("user_id", [NO_USER, "not-a-uuid"])
def test_unknown_user_is_a_404_page(console, user_id):
    response = console.get(f"/console/users/{user_id}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Not found" in html and "no user with this id" in html


def test_detail_requires_an_operator(anonymous_console, api):
    user = create_user(api, unique_email())
    response = anonymous_console.get(f"/console/users/{user['id']}")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


def test_htmx_request_gets_the_detail_block_only(console, api):
    user = create_user(api, unique_email())
    response = console.get(f"/console/users/{user['id']}", htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith(("{#", "<div id=\"user-detail\""))
    assert 'id="user-detail"' in html


def test_sessions_show_agent_ip_aal_and_refresh_time(console, api, app):
    email = unique_email()
    user = create_user(api, email, password="password-123")
    login = api.post("/token?grant_type=password", json={"email": email,
                                                        "password": "password-123"},
                     headers={"User-Agent": "Firefox/125 (test)"})
    assert login.status_code == 200
    html = _page(console, user["id"])
    sessions = html[html.index('id="sessions"'):html.index('id="identities"')]
    assert "Firefox/125 (test)" in sessions
    assert "127.0.0.1" in sessions and ">aal1<" in sessions
    assert "never" in sessions  # not refreshed yet
    api.refresh(login.get_json()["refresh_token"])
    sessions = _page(console, user["id"])
    assert "never</span></td>" not in sessions[sessions.index('id="sessions"'):
                                               sessions.index('id="identities"')]


def test_factors_are_listed_with_type_name_and_status(console, api, app):
    user = create_user(api, unique_email())
    add_factor(app, user["id"], name="Work phone app")
    html = _page(console, user["id"])
    factors = html[html.index('id="factors"'):html.index('id="metadata"')]
    assert "Work phone app" in factors and ">totp<" in factors and ">verified<" in factors
    assert "Remove all" in factors
    assert 'class="badge info">MFA' in html


def test_user_without_factors_or_sessions_gets_empty_states(console, api):
    user = create_user(api, unique_email())
    html = _page(console, user["id"])
    assert "No MFA factors" in html and "No sessions" in html


def test_page_works_without_javascript_helpers(console, api):
    """Every action form posts by itself (action + method), with its CSRF field."""
    user = create_user(api, unique_email(), email_confirm=False)
    html = _page(console, user["id"])
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, re.S)
    action_forms = [f for f in forms if f'/console/users/{user["id"]}/' in f]
    assert len(action_forms) >= 10
    for form in action_forms:
        assert 'method="post"' in form and 'name="csrf_token"' in form
        action = re.search(r'action="([^"]+)"', form).group(1)
        assert re.search(rf'hx-post="{re.escape(action)}"', form)
    assert "<script>" not in html and 'style="' not in html


def test_soft_deleted_user_page_says_so_and_asks_for_the_id(console, api):
    user = create_user(api, unique_email())
    api.admin("DELETE", f"/admin/users/{user['id']}", json={"should_soft_delete": True})
    html = _page(console, user["id"])
    assert 'class="badge danger">Deleted' in html
    assert f"Type <code>{user['id']}</code> to confirm" in html
    assert "Send password recovery" not in html and "Soft delete</button>" not in html
    # The scrambled address is no name: the page goes by the id.
    assert re.search(rf"<h1[^>]*>\s*Deleted user {user['id']}\s*</h1>", html)


# --- timeline -----------------------------------------------------------------------------------


def _timeline_actions(html: str) -> list[str]:
    timeline = html[html.index('id="timeline"'):]
    return re.findall(r"<td><code>([a-z_]+)</code></td>", timeline)


def test_timeline_has_the_users_own_and_targeting_entries_newest_first(clock, console, api,
                                                                         app):
    email = unique_email()
    other = api.session()
    clock.advance(seconds=1)
    session = api.session(email)            # user_signedup + login: actor is the user
    clock.advance(seconds=1)
    api.refresh(session["refresh_token"])   # token_refreshed: actor is the user
    clock.advance(seconds=1)
    api.admin("PUT", f"/admin/users/{session['user']['id']}",
              json={"user_metadata": {"a": 1}})  # user_modified: the user is the target
    clock.advance(seconds=1)
    api.refresh(other["refresh_token"])     # someone else's entry
    html = _page(console, session["user"]["id"])
    actions = _timeline_actions(html)
    # Signing up writes both entries at the same instant: their order is not defined.
    assert actions[:2] == ["user_modified", "token_refreshed"]
    assert sorted(actions[2:]) == ["login", "user_signedup"]
    assert "service_role" in html  # who modified them


def test_timeline_hides_token_refreshes_on_request(clock, console, api):
    session = api.session()
    clock.advance(seconds=1)
    api.refresh(session["refresh_token"])
    html = _page(console, f"{session['user']['id']}?quiet=1")
    assert "token_refreshed" not in _timeline_actions(html)
    assert "Show token refreshes" in html


def test_timeline_is_limited_with_a_more_link_that_pages_back(clock, console, api):
    session = api.session()
    token = session["refresh_token"]
    for _ in range(25):
        clock.advance(seconds=1)
        token = api.refresh(token).get_json()["refresh_token"]
    user_id = session["user"]["id"]
    first = _page(console, user_id)
    assert _timeline_actions(first) == ["token_refreshed"] * 20
    cursor = re.search(r'href="[^"]*before=([0-9a-f.]+)[^"]*#timeline"', first).group(1)
    response = console.get(f"/console/users/{user_id}?before={cursor}&part=timeline", htmx=True)
    second = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="timeline"' in second
    assert 'id="profile"' not in second  # the timeline fragment only
    # 25 refreshes + login + signup = 27 entries: 7 are left, oldest last, no further link.
    older = _timeline_actions(second)
    assert older[:5] == ["token_refreshed"] * 5 and sorted(older[5:]) == ["login", "user_signedup"]
    assert "More (older)" not in second and "Newest" in second


def test_timeline_ignores_a_malformed_cursor(console, api):
    session = api.session()
    html = _page(console, f"{session['user']['id']}?before=garbage")
    assert sorted(_timeline_actions(html)) == ["login", "user_signedup"]


# --- metadata editor ----------------------------------------------------------------------------


def _save_metadata(console, user_id, field, value, html=None, **kwargs):
    html = html or _page(console, user_id)
    data = {"field": field, "value": value if isinstance(value, str) else json.dumps(value),
            "expected": _hidden(html, field, "expected")}
    return console.post(f"/console/users/{user_id}/metadata", data, **kwargs)


def test_metadata_editor_replaces_the_whole_object(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"keep": 1, "drop": 2, "change": 3})
    response = _save_metadata(console, user["id"], "user_metadata",
                              {"keep": 1, "change": "new", "added": {"nested": [1, 2]}})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/users/{user['id']}"
    row = user_row(app, user["id"])
    assert row.raw_user_meta_data == {"keep": 1, "change": "new", "added": {"nested": [1, 2]}}
    entry = assert_operator_entry(app, "user_modified", user["id"], change="user_metadata")
    assert entry["traits"]["user_email"] == user["email"]
    followed = console.get(f"/console/users/{user['id']}").get_data(as_text=True)
    assert "User metadata saved." in followed


def test_metadata_key_set_to_null_is_removed(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"a": 1, "b": 2},
                       email_confirm=False)
    _save_metadata(console, user["id"], "user_metadata", '{"a": null, "b": 2}')
    assert user_row(app, user["id"]).raw_user_meta_data == {"b": 2}


def test_app_metadata_is_replaced_too(console, api, app):
    user = create_user(api, unique_email(), app_metadata={"plan": "pro", "tier": 2})
    _save_metadata(console, user["id"], "app_metadata",
                   {"provider": "email", "providers": ["email"], "plan": "free"})
    assert user_row(app, user["id"]).raw_app_meta_data == {
        "provider": "email", "providers": ["email"], "plan": "free"}
    assert_operator_entry(app, "user_modified", user["id"], change="app_metadata")


def test_metadata_save_over_htmx_returns_the_block_and_a_toast(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"x": 1})
    response = _save_metadata(console, user["id"], "user_metadata", {"y": 2}, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="user-detail"' in html
    assert json.loads(unescape(_textarea(html, "user_metadata-value"))) == {"y": 2}
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "User metadata saved.", "kind": "ok"}
    assert user_row(app, user["id"]).raw_user_meta_data == {"y": 2}


@pytest.mark.parametrize("value, message", [
    ("[1, 2]", "must be a JSON object"),
    ('"text"', "must be a JSON object"),
    ("{'single': 'quotes'}", "not valid JSON"),
    ('{"a": 1,}', "not valid JSON"),
    ('{"a": NaN}', "not valid JSON"),
    ("", "Type a JSON object"),
    ('{"big": "' + "x" * (console_actions.MAX_METADATA_BYTES + 1) + '"}', "limited to 64 KiB"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_metadata_is_422_with_the_message_and_changes_nothing(console, api, app, value,
                                                                   message, htmx):
    user = create_user(api, unique_email(), user_metadata={"a": 1}, email_confirm=False)
    before = len(audit_entries(app))
    response = _save_metadata(console, user["id"], "user_metadata", value, htmx=htmx)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in unescape(html)
    assert ("<html" in html) is not htmx
    if value and len(value) < 100:
        # The operator's text comes back to be fixed.
        assert unescape(_textarea(html, "user_metadata-value")) == value
    assert user_row(app, user["id"]).raw_user_meta_data == {"a": 1}
    assert len(audit_entries(app)) == before


def test_deeply_nested_object_is_refused_not_a_500(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"a": 1}, email_confirm=False)
    value = '{"a": ' + "[" * 100000 + "]" * 100000 + "}"
    response = _save_metadata(console, user["id"], "user_metadata", value)
    assert response.status_code == 422
    assert user_row(app, user["id"]).raw_user_meta_data == {"a": 1}


def test_metadata_changed_meanwhile_is_refused_and_shown(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"a": 1}, email_confirm=False)
    html = _page(console, user["id"])
    # The user (or another admin) changes it after the operator opened the page.
    api.admin("PUT", f"/admin/users/{user['id']}", json={"user_metadata": {"b": 2}})
    response = _save_metadata(console, user["id"], "user_metadata", {"a": 5}, html=html)
    assert response.status_code == 422
    page = unescape(response.get_data(as_text=True))
    assert "changed after you opened the editor" in page
    assert "Value stored now" in page and '"b": 2' in page
    assert user_row(app, user["id"]).raw_user_meta_data == {"a": 1, "b": 2}
    # Saving again from the re-rendered form replaces it, as the message says.
    response = _save_metadata(console, user["id"], "user_metadata", {"a": 5},
                              html=response.get_data(as_text=True))
    assert response.status_code == 303
    assert user_row(app, user["id"]).raw_user_meta_data == {"a": 5}


def test_metadata_post_without_csrf_token_is_400_and_changes_nothing(console, api, app):
    user = create_user(api, unique_email(), user_metadata={"a": 1}, email_confirm=False)
    response = console.post(f"/console/users/{user['id']}/metadata",
                            {"field": "user_metadata", "value": "{}"}, csrf=False)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert user_row(app, user["id"]).raw_user_meta_data == {"a": 1}
    assert operator_entries(app, "user_modified") == []


def test_metadata_for_an_unknown_user_is_404(console):
    response = console.post(f"/console/users/{uuid.uuid4()}/metadata",
                            {"field": "user_metadata", "value": "{}", "expected": ""})
    assert response.status_code == 404


def test_metadata_with_an_unknown_field_is_400(console, api, app):
    user = create_user(api, unique_email())
    response = console.post(f"/console/users/{user['id']}/metadata",
                            {"field": "raw_app_meta_data", "value": "{}", "expected": ""})
    assert response.status_code == 400
    assert operator_entries(app, "user_modified") == []
