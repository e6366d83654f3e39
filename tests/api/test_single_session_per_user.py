"""GOTRUE_SESSIONS_SINGLE_PER_USER: only a user's most recently refreshed (or created) session
survives its next refresh; with GOTRUE_SESSIONS_TAGS, one session per tag (sessions.tag; a tag
not listed, or none, counts under the first)."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import Session

from ..conftest import api_for
from ..factories import PASSWORD, create_user, freeze_clock, sign_in, unique_email, verified_claims

REVOKED = {"code": "session_expired",
           "message": "Invalid Refresh Token: Session Expired (Revoked by Newer Login)"}


def _app(make_app, **overrides):
    return make_app(**{"mailer.autoconfirm": True, "sessions.single_per_user": True,
                       **overrides})


def _signed_in_user(app, service_role_token):
    """A user's sign-in function: each call a new session (the clock moved a minute on)."""
    api = api_for(app, service_role_token)
    email = unique_email("single")
    create_user(api, email, password=PASSWORD)
    clock = freeze_clock(app)

    def sign_in_again(tag: str | None = None) -> dict:
        clock.advance(minutes=1)
        body = sign_in(api, email)
        if tag is not None:
            session_id = uuid.UUID(verified_claims(body["access_token"],
                                                   clock_moved=True)["session_id"])
            with app.app_context():
                db.session.execute(sa.update(Session).where(Session.id == session_id)
                                   .values(tag=tag))
                db.session.commit()
        return body

    return api, clock, sign_in_again


@pytest.mark.parametrize("algorithm", [0, 2])
def test_a_newer_sign_in_ends_the_older_session_at_its_next_refresh(make_app,
                                                                    service_role_token,
                                                                    algorithm):
    app = _app(make_app, **{"security.refresh_token_algorithm_version": algorithm})
    api, clock, sign_in_again = _signed_in_user(app, service_role_token)
    older, newer = sign_in_again(), sign_in_again()
    clock.advance(minutes=1)
    refused = api.refresh(older["refresh_token"])
    assert refused.status_code == 400
    assert refused.get_json() == REVOKED
    assert api.refresh(newer["refresh_token"]).status_code == 200


def test_the_most_recently_refreshed_session_is_the_survivor(make_app, service_role_token):
    app = _app(make_app)
    api, clock, sign_in_again = _signed_in_user(app, service_role_token)
    first = sign_in_again()
    second = sign_in_again()
    clock.advance(minutes=1)
    # Only the newest survives a refresh: the first is refused, the second goes on.
    assert api.refresh(first["refresh_token"]).get_json() == REVOKED
    refreshed = api.refresh(second["refresh_token"])
    assert refreshed.status_code == 200
    third = sign_in_again()
    clock.advance(minutes=1)
    assert api.refresh(refreshed.get_json()["refresh_token"]).get_json() == REVOKED
    assert api.refresh(third["refresh_token"]).status_code == 200


def test_off_by_default_every_session_lives_on(make_app, service_role_token):
    app = make_app(**{"mailer.autoconfirm": True})
    api, clock, sign_in_again = _signed_in_user(app, service_role_token)
    older, newer = sign_in_again(), sign_in_again()
    for body in (older, newer):
        assert api.refresh(body["refresh_token"]).status_code == 200


def test_with_tags_one_session_survives_per_tag(make_app, service_role_token):
    app = _app(make_app, **{"sessions.tags": ("web", "mobile")})
    api, clock, sign_in_again = _signed_in_user(app, service_role_token)
    phone = sign_in_again(tag="mobile")
    browser = sign_in_again()  # no tag: counts as "web", the first tag
    clock.advance(minutes=1)
    # A newer web session leaves the mobile one alone.
    phone_refreshed = api.refresh(phone["refresh_token"])
    assert phone_refreshed.status_code == 200
    # An unknown tag counts as "web" too: it ends the older untagged session.
    television = sign_in_again(tag="tv")
    clock.advance(minutes=1)
    assert api.refresh(browser["refresh_token"]).get_json() == REVOKED
    # A newer mobile session ends the older mobile one, not the web one.
    tablet = sign_in_again(tag="mobile")
    clock.advance(minutes=1)
    assert api.refresh(phone_refreshed.get_json()["refresh_token"]).get_json() == REVOKED
    for survivor in (television, tablet):
        assert api.refresh(survivor["refresh_token"]).status_code == 200


def test_without_tags_a_tagged_session_competes_with_all(make_app, service_role_token):
    app = _app(make_app)
    api, clock, sign_in_again = _signed_in_user(app, service_role_token)
    phone = sign_in_again(tag="mobile")
    sign_in_again()
    clock.advance(minutes=1)
    assert api.refresh(phone["refresh_token"]).get_json() == REVOKED
