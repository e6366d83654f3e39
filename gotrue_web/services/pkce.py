"""PKCE for the email flows: flow_state rows and the authorization-code exchange.

Parity: GoTrue internal/api/pkce.go and models/flow_state.go. A flow is created when a request
carries code_challenge and code_challenge_method; the email's token then carries the ``pkce_``
marker, /verify redirects with ``?code=`` and POST /token?grant_type=pkce exchanges the code.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from ..db import begin_write_locked
from ..errors import ErrorCode, bad_request, not_found, unprocessable
from ..extensions import db
from ..models import CodeChallengeMethod, FlowState, User
from ..runtime import RequestInfo, Runtime
from ..security import codes
from . import audit, sessions

_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


@dataclass(frozen=True)
class PKCEParams:
    challenge: str
    method: CodeChallengeMethod


def parse_params(challenge: str, method: str) -> PKCEParams | None:
    """None when neither is given; 400 when only one is, or they are malformed."""
    if not challenge and not method:
        return None
    if not challenge or not method:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "PKCE flow requires code_challenge_method and code_challenge")
    if not _CHALLENGE.fullmatch(challenge):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "code challenge has to be between 43 and 128 characters of "
                          "[A-Za-z0-9._~-]")
    try:
        parsed_method = CodeChallengeMethod(method.lower())
    except ValueError:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Code challenge method not supported: {method}") from None
    return PKCEParams(challenge=challenge, method=parsed_method)


def create_flow(rt: Runtime, params: PKCEParams, *, user_id: uuid.UUID | None,
                authentication_method: str, provider_type: str | None = None) -> FlowState:
    """A flow_state row; email flows name their provider after the method, as GoTrue does
    (``email`` for a signup)."""
    if provider_type is None:
        provider_type = "email" if authentication_method == "email/signup" \
            else authentication_method
    now = rt.now()
    flow = FlowState(
        id=uuid.uuid4(), user_id=user_id, auth_code=str(uuid.uuid4()),
        code_challenge_method=params.method, code_challenge=params.challenge,
        provider_type=provider_type, authentication_method=authentication_method,
        created_at=now, updated_at=now,
    )
    db.session.add(flow)
    return flow


def issue_auth_code(rt: Runtime, user: User, authentication_method: str) -> FlowState | None:
    """The user's newest flow for this method, stamped as having issued its code (on /verify)."""
    flow = db.session.execute(
        sa.select(FlowState)
        .where(FlowState.user_id == user.id,
               FlowState.authentication_method == authentication_method)
        .order_by(FlowState.created_at.desc()).limit(1)
    ).scalar_one_or_none()
    if flow is not None:
        flow.auth_code_issued_at = rt.now()
        flow.updated_at = rt.now()
    return flow


def exchange(rt: Runtime, auth_code: str, verifier: str, info: RequestInfo
             ) -> sessions.IssuedSession:
    """POST /token?grant_type=pkce: check the verifier, delete the flow, start a session."""
    if not auth_code or not verifier:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "invalid request: both auth code and code verifier should be non-empty")
    # Two exchanges of one code queue on the flow's row (SQLite: on the write lock); the second
    # then finds it deleted.
    begin_write_locked(db.session)
    flow = db.session.execute(
        sa.select(FlowState).where(FlowState.auth_code == auth_code)
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    user = db.session.get(User, flow.user_id) if flow is not None and flow.user_id else None
    if flow is None or user is None:
        raise not_found(ErrorCode.FLOW_STATE_NOT_FOUND,
                        "invalid flow state, no valid flow state found")
    now = rt.now()
    started = flow.created_at
    if flow.authentication_method == "magiclink" and flow.auth_code_issued_at is not None:
        started = flow.auth_code_issued_at
    if started is None or now > started + rt.settings.external.flow_state_expiry:
        raise unprocessable(ErrorCode.FLOW_STATE_EXPIRED,
                            "invalid flow state, flow state has expired")
    if not codes.pkce_verifier_matches(flow.code_challenge_method.value, flow.code_challenge,
                                        verifier):
        raise bad_request(ErrorCode.BAD_CODE_VERIFIER,
                          "code challenge does not match previously saved code verifier")
    if user.is_banned(now):
        raise bad_request(ErrorCode.USER_BANNED, "User is banned")
    method = flow.authentication_method
    provider_token, provider_refresh = flow.provider_access_token, flow.provider_refresh_token
    db.session.delete(flow)
    audit.record("login", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"provider_type": flow.provider_type})
    issued = sessions.start_session(rt, user, method, info)
    # The sign-in a PKCE flow began (an OAuth callback or an emailed link) ends here.
    if method == "oauth":
        rt.metrics.sign_in("oauth", (flow.provider_type or "").lower(), "success")
    elif method == "sso/saml":
        rt.metrics.sign_in("sso", "saml", "success")
    else:
        rt.metrics.sign_in("magiclink" if method == "magiclink" else "otp", "email", "success")
    issued.provider_token = provider_token
    issued.provider_refresh_token = provider_refresh
    return issued
