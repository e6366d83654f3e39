"""The passkey API driven as auth-js drives it: a signed-in user (password grant), the
registration and sign-in ceremonies answered by the software authenticator, and the rows they
leave (webauthn_credentials, webauthn_challenges)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from gotrue_web.extensions import db
from gotrue_web.models import AAL, User, WebAuthnChallenge, WebAuthnCredential
from gotrue_web.runtime import RequestInfo
from gotrue_web.services import sessions

from ..conftest import ApiClient, api_for, table_rows
from ..factories import PASSWORD, make_user, sign_in, unique_email


def api_error(response) -> tuple[int, str, str]:
    body = response.get_json()
    return response.status_code, body.get("code"), body.get("message")


class Passkeys:
    """One app's API as a test sees it: ``user()`` makes a signed-in user, ``register`` and
    ``login`` run whole ceremonies, and the steps are there to call one by one."""

    def __init__(self, app, service_role_token: str = ""):
        self.app = app
        self.api: ApiClient = api_for(app, service_role_token)

    # -- users ------------------------------------------------------------------------------

    def user(self, email: str | None = None, **columns) -> tuple[uuid.UUID, str]:
        """A confirmed user with a password and a session: (id, access token)."""
        email = email or unique_email("passkey")
        user_id = make_user(self.app, email, password=PASSWORD, **columns)
        return user_id, sign_in(self.api, email)["access_token"]

    # -- registration -----------------------------------------------------------------------

    def registration_options(self, token: str, **kw):
        return self.api.post("/passkeys/registration/options", token=token, json={}, **kw)

    def registration_verify(self, token: str, challenge_id, credential, **kw):
        return self.api.post("/passkeys/registration/verify", token=token,
                             json={"challenge_id": challenge_id, "credential": credential},
                             **kw)

    def register(self, token: str, authenticator, **overrides) -> dict:
        """Options, create, verify: the verify answer ``{id, friendly_name, created_at}``."""
        options = self.registration_options(token)
        assert options.status_code == 200, options.get_data(as_text=True)
        body = options.get_json()
        credential = authenticator.create(body["options"], **overrides)
        verified = self.registration_verify(token, body["challenge_id"], credential)
        assert verified.status_code == 200, verified.get_data(as_text=True)
        return verified.get_json()

    # -- sign-in ----------------------------------------------------------------------------

    def authentication_options(self, body: dict | None = None, **kw):
        return self.api.post("/passkeys/authentication/options",
                             json={"gotrue_meta_security": {}} if body is None else body, **kw)

    def authentication_verify(self, challenge_id, credential, **kw):
        return self.api.post("/passkeys/authentication/verify",
                             json={"challenge_id": challenge_id, "credential": credential},
                             **kw)

    def options_for_login(self) -> dict:
        response = self.authentication_options()
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def login(self, authenticator, credential_id: bytes | None = None, **overrides):
        """Options, get, verify: the verify response (not checked)."""
        body = self.options_for_login()
        assertion = authenticator.get(body["options"], credential_id=credential_id,
                                      **overrides)
        return self.authentication_verify(body["challenge_id"], assertion)


def session_token(app, user_id, *, aal: AAL = AAL.aal1, method: str = "password") -> str:
    """An access token of a new session of the user (for users no sign-in reaches: SSO and
    anonymous users, or an aal2 session), made by the sessions service."""
    with app.app_context():
        user = db.session.get(User, uuid.UUID(str(user_id)))
        issued = sessions.start_session(app.extensions["gotrue"], user, method,
                                        RequestInfo(ip="127.0.0.1"), aal=aal)
        db.session.commit()
        return issued.access_token


# -- rows --------------------------------------------------------------------------------------


def credentials(app, user_id=None) -> list[WebAuthnCredential]:
    """Stored passkeys (of ``user_id`` when given), oldest first."""
    statement = sa.select(WebAuthnCredential).order_by(WebAuthnCredential.created_at,
                                                       WebAuthnCredential.id)
    if user_id is not None:
        statement = statement.where(WebAuthnCredential.user_id == uuid.UUID(str(user_id)))
    return [row[0] for row in table_rows(app, statement)]


def credential(app, passkey_id) -> WebAuthnCredential | None:
    rows = table_rows(app, sa.select(WebAuthnCredential)
                      .where(WebAuthnCredential.id == uuid.UUID(str(passkey_id))))
    return rows[0][0] if rows else None


def challenges(app) -> list[WebAuthnChallenge]:
    return [row[0] for row in table_rows(
        app, sa.select(WebAuthnChallenge).order_by(WebAuthnChallenge.created_at))]
