"""POST /otp and POST /magiclink. Parity: GoTrue internal/api/otp.go and magic_link.go."""

from __future__ import annotations

from ..errors import ErrorCode, bad_request, unprocessable
from ..extensions import db
from ..runtime import current_runtime
from ..services import pkce
from ..services.phone import otp as phone_otp
from ..services.magic_links import (
    MagicLinkRequest,
    check_may_create,
    require_magic_links,
    send_magic_link,
)
from .errors import json_response
from .params import Body, json_body, pkce_params, request_info, resolved_redirect


def _magic_link(body: Body, *, create_user: bool, params: pkce.PKCEParams | None) -> None:
    request = MagicLinkRequest(
        email=body.str("email"), data=body.object("data"), create_user=create_user,
        redirect_to=resolved_redirect(), pkce=params,
    )
    send_magic_link(current_runtime(), request, request_info())


def otp():
    rt = current_runtime()
    body = json_body()
    email, phone, channel = body.str("email"), body.str("phone"), body.str("channel")
    create_user = body.bool("create_user", True)
    if email and phone:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Only an email address or phone number should be provided")
    if email and channel:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Channel should only be specified with Phone OTP")
    params = pkce_params(body)
    if email:
        check_may_create(email, create_user, request_info())
        _magic_link(body, create_user=create_user, params=params)
        db.session.commit()
        return json_response({})
    if phone:
        message_id = phone_otp.send_otp(rt, phone, channel, create_user=create_user,
                                        data=body.object("data"), info=request_info())
        db.session.commit()
        # The provider's message id (spec D1), or "test-otp" for a test number.
        return json_response({"message_id": message_id} if message_id else {})
    raise bad_request(ErrorCode.VALIDATION_FAILED, "One of email or phone must be set")


def magic_link():
    require_magic_links(current_runtime())
    body = json_body()
    if not body.str("email"):
        raise unprocessable(ErrorCode.VALIDATION_FAILED, "Password recovery requires an email")
    _magic_link(body, create_user=True, params=pkce_params(body))
    db.session.commit()
    return json_response({})
