"""The consent page's API (spec idp-passkeys-web3.md section 1.6): the details of a pending
authorization request, binding it to the signed-in user, and the user's approval or denial.

An approval stores a one-time code on the row (status approved; the token endpoint exchanges
and deletes it) and the user's consent for the client, which later requests for no more scopes
are approved with at once. Rows are read under a row lock; a row another transaction has
locked reads as not found.
"""

from __future__ import annotations

import re
import uuid

import sqlalchemy as sa

from ...db import begin_write_locked
from ...errors import ErrorCode, GoTrueError, bad_request, not_found
from ...extensions import db
from ...models import AuthorizationStatus, OAuthAuthorization, OAuthClient, OAuthConsent, User
from ...runtime import Runtime
from ...security import redirects
from .authorizations import (
    ACCESS_DENIED,
    AUTHORIZATION_ID_ALPHABET,
    AUTHORIZATION_ID_LENGTH,
    code_redirect,
    error_redirect,
    parse_scope,
)
from .clients import find_usable_client

APPROVE, DENY = "approve", "deny"
AUTHORIZATION_ID = re.compile(f"[{AUTHORIZATION_ID_ALPHABET}]{{{AUTHORIZATION_ID_LENGTH}}}")
DENIED_DESCRIPTION = "User denied the request"


def check_origin(rt: Runtime, origin: str | None) -> None:
    """An Origin header, when sent, must pass redirect_to validation (SITE_URL's host, any
    loopback port, GOTRUE_URI_ALLOW_LIST)."""
    settings = rt.settings
    if origin and not redirects.is_valid(origin, settings.site_url, settings.uri_allow_list):
        raise bad_request(ErrorCode.VALIDATION_FAILED, "unauthorized request origin")


def client_summary(client: OAuthClient) -> dict:
    """``{"id", "name"?, "uri"?, "logo_uri"?}``: the client as the consent page and the user's
    grants show it (empty values left out)."""
    summary = {"id": str(client.id)}
    for key, value in (("name", client.client_name), ("uri", client.client_uri),
                       ("logo_uri", client.logo_uri)):
        if value:
            summary[key] = value
    return summary


def _not_found() -> GoTrueError:
    return not_found(ErrorCode.OAUTH_AUTHORIZATION_NOT_FOUND, "authorization not found")


def _locked(authorization_id: str) -> OAuthAuthorization | None:
    """The row, locked for this transaction; None when absent or locked by another one (SKIP
    LOCKED). SQLite has no row locks: the transaction takes the database write lock instead,
    so a concurrent decision waits and then sees the row as that one left it."""
    if not AUTHORIZATION_ID.fullmatch(authorization_id):
        # No such row can exist; and a NUL byte would not even reach PostgreSQL.
        return None
    db.session.rollback()
    begin_write_locked(db.session)
    query = (sa.select(OAuthAuthorization)
             .where(OAuthAuthorization.authorization_id == authorization_id)
             .execution_options(populate_existing=True))
    if db.session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    return db.session.execute(query).scalar_one_or_none()


def _open_request(rt: Runtime, authorization_id: str, user_id: uuid.UUID, *,
                  bound_only: bool, not_pending: str) -> tuple[OAuthAuthorization, OAuthClient]:
    """The caller's pending request and its client, or the consent API's errors in GoTrue's
    order: unknown, another user's (or, with ``bound_only``, nobody's yet), expired (marked so,
    and kept: the error commits first), not pending (``not_pending``)."""
    authorization = _locked(authorization_id)
    if authorization is None or authorization.user_id not in (
            (user_id,) if bound_only else (user_id, None)):
        raise _not_found()
    # Ours: a client deleted or disabled since is unknown, and so are its requests.
    client = find_usable_client(authorization.client_id)
    if client is None:
        raise _not_found()
    if rt.now() > authorization.expires_at:
        authorization.status = AuthorizationStatus.expired
        error = _not_found()
        error.commit_first = True
        raise error
    if authorization.status != AuthorizationStatus.pending:
        raise bad_request(ErrorCode.VALIDATION_FAILED, not_pending)
    return authorization, client


def _approve(rt: Runtime, authorization: OAuthAuthorization) -> dict:
    authorization.status = AuthorizationStatus.approved
    authorization.authorization_code = str(uuid.uuid4())
    authorization.approved_at = rt.now()
    return {"redirect_url": code_redirect(authorization)}


def active_consent(user_id: uuid.UUID, client_id: uuid.UUID) -> OAuthConsent | None:
    """The user's unrevoked consent for the client, if any."""
    return db.session.execute(
        sa.select(OAuthConsent).where(OAuthConsent.user_id == user_id,
                                      OAuthConsent.client_id == client_id,
                                      OAuthConsent.revoked_at.is_(None))
    ).scalar_one_or_none()


def _covers(consent: OAuthConsent | None, scope: str) -> bool:
    return consent is not None and set(parse_scope(scope)) <= set(consent.scope_list)


def details(rt: Runtime, authorization_id: str, user: User) -> dict:
    """GET /oauth/authorizations/{id}. The first call binds the request to the caller; if the
    caller's consent already covers every requested scope it is approved there and then
    (``{"redirect_url"}``). Otherwise the request for the consent page to show. The caller
    commits."""
    user_id = user.id
    authorization, client = _open_request(
        rt, authorization_id, user_id, bound_only=False,
        not_pending="authorization request cannot be processed")
    if authorization.user_id is None:
        authorization.user_id = user_id
        if _covers(active_consent(user_id, client.id), authorization.scope):
            return _approve(rt, authorization)
    caller = {"id": str(user_id)}
    if user.email:
        caller["email"] = user.email
    return {"authorization_id": authorization.authorization_id,
            "redirect_uri": authorization.redirect_uri, "client": client_summary(client),
            "user": caller, "scope": authorization.scope}


def _grant(rt: Runtime, user_id: uuid.UUID, client_id: uuid.UUID, scope: str) -> None:
    """Upsert the user's consent for the client with exactly these scopes (replacing the old
    ones), granted now and not revoked."""
    now = rt.now()
    scopes = " ".join(parse_scope(scope))

    def existing() -> OAuthConsent | None:
        return db.session.execute(
            sa.select(OAuthConsent).where(OAuthConsent.user_id == user_id,
                                          OAuthConsent.client_id == client_id)
            .with_for_update().execution_options(populate_existing=True)
        ).scalar_one_or_none()

    consent = existing()
    if consent is None:
        try:
            with db.session.begin_nested():
                db.session.add(OAuthConsent(id=uuid.uuid4(), user_id=user_id,
                                            client_id=client_id, scopes=scopes, granted_at=now))
            return
        except sa.exc.IntegrityError:
            # Another approval for this user and client inserted it first.
            consent = existing()
    consent.scopes = scopes
    consent.granted_at = now
    consent.revoked_at = None


def decide(rt: Runtime, authorization_id: str, user: User, action: str) -> dict:
    """POST /oauth/authorizations/{id}/consent with ``action`` approve or deny (already
    checked): ``{"redirect_url"}`` with the code or with access_denied. The caller commits."""
    user_id = user.id
    authorization, client = _open_request(
        rt, authorization_id, user_id, bound_only=True,
        not_pending="authorization request is no longer pending")
    if action == APPROVE:
        _grant(rt, user_id, client.id, authorization.scope)
        return _approve(rt, authorization)
    authorization.status = AuthorizationStatus.denied
    return {"redirect_url": error_redirect(authorization.redirect_uri, ACCESS_DENIED,
                                           DENIED_DESCRIPTION, authorization.state)}
