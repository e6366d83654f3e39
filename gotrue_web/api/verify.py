"""GET /verify (email links) and POST /verify (codes and token hashes).

Parity: GoTrue internal/api/verify.go. GET always answers with a 303: the session, the PKCE code,
the half-way message or the error travels in the redirect.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import redirect, request

from ..errors import ErrorCode, GoTrueError, bad_request, unprocessable
from ..extensions import db
from ..runtime import current_runtime
from ..security.codes import PKCE_PREFIX
from ..serializers import session_json
from ..services import verify as verification
from ..services.validation import normalize_email, normalize_phone
from .errors import json_response
from .params import json_body, request_info, resolved_redirect

# OAuth-style error names by status, as GoTrue puts them in redirects; other statuses get none.
_ERROR_NAMES = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied",
                500: "server_error", 503: "temporarily_unavailable"}


def _with_fragment(url: str, values: dict) -> str:
    """``url`` with its fragment replaced by ``values`` (sorted keys)."""
    base = url.split("#", 1)[0]
    return f"{base}#{urlencode(sorted(values.items()))}"


def _with_query(url: str, values: dict) -> str:
    """``url`` with ``values`` set in its query (replacing same-named keys, sorted as Go does)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    query = sorted(query + list(values.items()), key=lambda item: item[0])
    return urlunsplit(parts._replace(query=urlencode(query)))


def _token_redirect(location: str, status: int):
    """A redirect that may carry tokens or a code: the page it lands on must not pass its URL
    on to the sites it links to or loads from."""
    response = redirect(location, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _error_redirect(target: str, error: GoTrueError, pkce_flow: bool):
    values = {"error_code": error.error_code, "error_description": error.message}
    name = _ERROR_NAMES.get(error.status)
    if name:
        values["error"] = name
    location = _with_query(target, values) if pkce_flow else target
    return _token_redirect(_with_fragment(location, {**values, "sb": ""}), 303)


def verify_get():
    rt = current_runtime()
    token = request.args.get("token", "")
    verify_type = request.args.get("type", "")
    if not verify_type:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Verify requires a verification type")
    if not token:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Verify requires a token or a token hash")
    target = resolved_redirect()
    if request.method == "HEAD":
        # Link scanners and previews probe with HEAD: answer without spending the link.
        return "", 200
    pkce_flow = token.startswith(PKCE_PREFIX)
    try:
        if verify_type not in verification.ALL_TYPES:
            raise bad_request(ErrorCode.VALIDATION_FAILED, "Unsupported verification type")
        result = verification.verify(rt, verify_type, request_info(), token_hash=token,
                                     want_auth_code=True)
    except GoTrueError as error:
        db.session.rollback()
        return _error_redirect(target, error, pkce_flow)
    db.session.commit()
    if result.message:
        location = target
        if result.is_pkce:
            location = _with_query(target, {"message": result.message})
        return _token_redirect(_with_fragment(location, {"message": result.message, "sb": ""}),
                               303)
    if result.auth_code:
        return _token_redirect(_with_query(target, {"code": result.auth_code}), 303)
    issued = result.session
    return _token_redirect(_with_fragment(target, {
        "access_token": issued.access_token, "expires_at": issued.expires_at,
        "expires_in": issued.expires_in, "refresh_token": issued.refresh_token, "sb": "",
        "token_type": "bearer", "type": result.verify_type,
    }), 303)


def verify_post():
    rt = current_runtime()
    body = json_body()
    verify_type = body.str("type")
    token, token_hash = body.str("token"), body.str("token_hash")
    email, phone = body.str("email"), body.str("phone")
    verification.check_post_shape(verify_type=verify_type, token=token, token_hash=token_hash,
                                  email=email, phone=phone, redirect_to=body.str("redirect_to"))
    if verify_type not in verification.ALL_TYPES:
        raise bad_request(ErrorCode.VALIDATION_FAILED, "Unsupported verification type")
    if email:
        try:
            email = normalize_email(email)
        except GoTrueError:
            raise unprocessable(ErrorCode.VALIDATION_FAILED, "Invalid email format") from None
    elif phone:
        phone = normalize_phone(phone)
    result = verification.verify(rt, verify_type, request_info(), token_hash=token_hash,
                                 code=token, email=email, phone=phone)
    db.session.commit()
    if result.message:
        return json_response({"msg": result.message, "code": "200"})
    return json_response(session_json(result.session))
