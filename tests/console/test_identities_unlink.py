"""Unlinking a user's identity from the console (issue 9): the identities on the user page,
the confirm step (a GET that changes nothing), and the unlink itself under the rules of
DELETE /user/identities/{id} (services.oauth.identities.remove_identity) with readable
refusals, the operator named in the audit entry, and CSRF.

Manual linking (GOTRUE_SECURITY_MANUAL_LINKING_ENABLED) is off in these apps: it gates the
end user's own routes, not what an operator does.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from gotrue_web.extensions import db
from gotrue_web.models import Identity

from ..factories import audit_entries, identities, make_user, user_row
from .support_users import assert_operator_entry, unescape

PASSWORD = "password-123"
NO_USER = "6e1d0c9b-3a2f-4e8d-9c7b-5a4f3e2d1c0b"


@pytest.fixture
def app(make_app):
    # Without autoconfirm an unverified address that becomes the user's email is unconfirmed.
    return make_app(**{"mailer.autoconfirm": False})


def add_identity(app, user_id, provider: str, provider_id: str, email: str | None,
                 verified: bool = True) -> uuid.UUID:
    """An identity as the OAuth callback leaves it (identity_data with the provider's claims)."""
    rt = app.extensions["gotrue"]
    with app.app_context():
        identity = Identity(user_id=user_id, provider=provider, provider_id=provider_id,
                            created_at=rt.now(), updated_at=rt.now(),
                            last_sign_in_at=rt.now())
        data = {"sub": provider_id, "email_verified": verified, "phone_verified": False}
        if email:
            data["email"] = email
        identity.set_data(data)
        db.session.add(identity)
        db.session.commit()
        return identity.id


def linked_user(app, email: str = "pat@example.com", github_email: str = "octo@example.com",
                verified: bool = True):
    user_id = make_user(app, email, password=PASSWORD)
    github_id = add_identity(app, user_id, "github", "4242", github_email, verified)
    return user_id, github_id


def identity_id(app, user_id, provider: str) -> uuid.UUID:
    return next(i.id for i in identities(app, user_id) if i.provider == provider)


def unlink(console, user_id, target, *, htmx: bool = True, **kwargs):
    return console.post(f"/console/users/{user_id}/identities/{target}/unlink", htmx=htmx,
                        **kwargs)


def providers_of(app, user_id) -> list[str]:
    return [i.provider for i in identities(app, user_id)]


def assert_refused(response, message: str) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 422, html
    assert json.loads(response.headers["HX-Trigger"])["toast"] == {"message": message,
                                                                   "kind": "error"}
    shown = re.search(r'<div class="form-error" role="alert">([^<]*)</div>', html).group(1)
    assert unescape(shown) == message


# --- what the page shows ------------------------------------------------------------------------


def test_the_user_page_lists_identities_with_unlink(console, app):
    user_id, github_id = linked_user(app)
    html = console.get(f"/console/users/{user_id}").get_data(as_text=True)
    card = re.search(r'<section class="card flush" id="identities">.*?</section>', html,
                     re.S).group(0)
    assert "<h2>Identities <span class=\"muted\">2</span></h2>" in card
    assert ">github<" in card and "ID <code>4242</code>" in card and "octo@example.com" in card
    assert f"email-{user_id}" in card  # the email identity's provider_id
    # Both created times, GitHub's last sign-in; the email identity has "never".
    assert len(re.findall(r"<time [^>]*datetime=", card)) == 3 and ">never<" in card
    assert f'href="/console/users/{user_id}/identities/{github_id}/unlink"' in card

    single = make_user(app, "solo@example.com", password=PASSWORD)
    html = console.get(f"/console/users/{single}").get_data(as_text=True)
    assert ('disabled title="This is the user\'s only sign-in method">Unlink</button>'
            in unescape(html))
    assert "/identities/" not in html


def test_the_confirm_step_changes_nothing(console, app):
    user_id, github_id = linked_user(app)
    before = len(audit_entries(app))
    path = f"/console/users/{user_id}/identities/{github_id}/unlink"
    fragment = console.get(path, htmx=True)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert html.lstrip().startswith('<section class="card flush" id="identities">')
    assert ("Unlink the github identity (octo@example.com) from pat@example.com?"
            in unescape(html))
    assert f'hx-post="{path}"' in html and 'name="csrf_token"' in html
    # Cancel brings back the card without the question.
    cancel = console.get(f"/console/users/{user_id}?part=identities", htmx=True)
    assert "Unlink the github" not in cancel.get_data(as_text=True)
    assert 'id="identities"' in cancel.get_data(as_text=True)

    page = console.get(path)
    assert page.status_code == 200 and "<html" in page.get_data(as_text=True)
    assert "Unlink the github identity" in unescape(page.get_data(as_text=True))

    assert providers_of(app, user_id) == ["email", "github"]
    assert len(audit_entries(app)) == before

    assert console.get(f"/console/users/{user_id}/identities/{uuid.uuid4()}/unlink"
                       ).status_code == 404
    assert console.get(f"/console/users/{user_id}/identities/x/unlink").status_code == 404


# --- unlinking ----------------------------------------------------------------------------------


def test_unlinking_github_over_htmx(console, app):
    user_id, github_id = linked_user(app)
    response = unlink(console, user_id, github_id)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    assert html.lstrip().startswith('<div id="user-detail">')
    message = "The github identity was unlinked from pat@example.com."
    assert json.loads(response.headers["HX-Trigger"])["toast"] == {"message": message,
                                                                   "kind": "ok"}
    assert "<code>4242</code>" not in html and "ID <code>email-" in html

    assert providers_of(app, user_id) == ["email"]
    user = user_row(app, user_id)
    assert user.email == "pat@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["email"]
    entry = assert_operator_entry(app, "identity_unlinked", user_id, provider="github",
                                  provider_id="4242", identity_id=str(github_id),
                                  user_email="pat@example.com")
    assert entry["actor_username"] == "operator@example.com"


def test_unlinking_as_a_plain_form_post(console, app):
    user_id, github_id = linked_user(app)
    response = unlink(console, user_id, github_id, htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/console/users/{user_id}"
    page = console.get(f"/console/users/{user_id}").get_data(as_text=True)
    assert ('<div class="flash ok" role="status">The github identity was unlinked from '
            'pat@example.com.</div>') in page
    assert providers_of(app, user_id) == ["email"]


def test_unlinking_the_email_identity_moves_the_email(console, app):
    user_id, _ = linked_user(app)
    response = unlink(console, user_id, identity_id(app, user_id, "email"))
    assert response.status_code == 200
    user = user_row(app, user_id)
    # GitHub vouches for its address, so the user stays confirmed.
    assert user.email == "octo@example.com" and user.email_confirmed_at is not None
    assert user.raw_app_meta_data["providers"] == ["github"]
    assert_operator_entry(app, "identity_unlinked", user_id, provider="email")


def test_an_unverified_address_that_becomes_the_email_is_not_confirmed(console, app):
    user_id, _ = linked_user(app, verified=False)
    assert unlink(console, user_id, identity_id(app, user_id, "email")).status_code == 200
    user = user_row(app, user_id)
    assert user.email == "octo@example.com" and user.email_confirmed_at is None
    assert user.raw_user_meta_data["email_verified"] is False


def test_the_only_sign_in_method_cannot_be_unlinked(console, app):
    user_id = make_user(app, "solo@example.com", password=PASSWORD)
    only = identity_id(app, user_id, "email")
    for htmx in (True, False):
        response = unlink(console, user_id, only, htmx=htmx)
        if htmx:
            assert_refused(response, "This is the user's only sign-in method: it cannot be "
                                     "unlinked.")
        else:
            assert response.status_code == 422
            assert "<html" in response.get_data(as_text=True)
    assert providers_of(app, user_id) == ["email"]
    assert audit_entries(app, "identity_unlinked") == []


def test_another_users_identity_is_not_touched(console, app):
    user_id, _ = linked_user(app)
    other = make_user(app, "other@example.com", phone="15550002222", password=PASSWORD)
    for target in (identity_id(app, other, "email"), uuid.uuid4(), "not-a-uuid", "1%00"):
        assert_refused(unlink(console, user_id, target),
                       "This identity is no longer linked to this user.")
    assert providers_of(app, other) == ["email", "phone"]
    assert providers_of(app, user_id) == ["email", "github"]
    assert audit_entries(app, "identity_unlinked") == []


def test_an_email_someone_else_has_blocks_the_unlink(console, app):
    user_id, _ = linked_user(app)
    make_user(app, "octo@example.com")
    response = unlink(console, user_id, identity_id(app, user_id, "email"))
    assert_refused(response, "Unlinking would give the user an email address another user "
                             "has. Nothing was changed.")
    assert providers_of(app, user_id) == ["email", "github"]
    assert user_row(app, user_id).email == "pat@example.com"
    assert audit_entries(app, "identity_unlinked") == []


def test_unlinking_the_phone_identity_clears_the_phone(console, app):
    user_id = make_user(app, "pat@example.com", phone="15550001111", password=PASSWORD)
    assert unlink(console, user_id, identity_id(app, user_id, "phone")).status_code == 200
    user = user_row(app, user_id)
    assert user.phone is None and user.phone_confirmed_at is None
    assert user.email == "pat@example.com"


def test_the_unlink_needs_the_csrf_token(console, app):
    user_id, github_id = linked_user(app)
    for htmx in (True, False):
        response = unlink(console, user_id, github_id, htmx=htmx, csrf=False)
        assert response.status_code == 400
    response = unlink(console, user_id, github_id, htmx=True, csrf=False,
                      headers={"X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert providers_of(app, user_id) == ["email", "github"]
    assert audit_entries(app, "identity_unlinked") == []


def test_only_a_signed_in_operator_can_unlink(anonymous_console, app):
    user_id, github_id = linked_user(app)
    response = unlink(anonymous_console, user_id, github_id, htmx=False)
    assert response.status_code == 303 and response.headers["Location"] == "/console/login"
    assert unlink(anonymous_console, user_id, github_id).status_code == 401
    assert providers_of(app, user_id) == ["email", "github"]


def test_a_user_that_does_not_exist_is_404(console, app):
    for user_id in (NO_USER, "not-a-uuid"):
        assert unlink(console, user_id, uuid.uuid4()).status_code == 404
        assert console.get(f"/console/users/{user_id}/identities/{uuid.uuid4()}/unlink"
                           ).status_code == 404
