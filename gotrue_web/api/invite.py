"""POST /invite and POST /admin/generate_link. Parity: GoTrue internal/api/invite.go, admin.go."""

from __future__ import annotations

from ..extensions import db
from ..runtime import current_runtime
from ..security import redirects
from ..serializers import user_json
from ..services.admin import invites
from ..services.admin.generate_link import GenerateLinkRequest, generate
from .errors import json_response
from .guards import admin_actor
from .params import json_body, request_info, resolved_redirect


def invite():
    body = json_body()
    user = invites.invite(current_runtime(), body.str("email"), body.object("data"),
                          resolved_redirect(body), admin_actor(), request_info())
    payload = user_json(user)
    db.session.commit()
    return json_response(payload)


def _generate_link_redirect(body) -> str:
    """GoTrue's order: the body's redirect_to when it passes validation, else the request's
    (query, header or Referer), itself validated (a refused value becomes SITE_URL)."""
    settings = current_runtime().settings
    from_body = body.str("redirect_to")
    if from_body and redirects.is_valid(from_body, settings.site_url, settings.uri_allow_list):
        return from_body
    return resolved_redirect()


def generate_link():
    body = json_body()
    request = GenerateLinkRequest(
        type=body.str("type"), email=body.str("email"), new_email=body.str("new_email"),
        password=body.str("password"), data=body.object("data"),
        redirect_to=_generate_link_redirect(body),
    )
    link = generate(current_runtime(), request, admin_actor(), request_info())
    # Flat: the user's own keys, then the link's, as auth-js splits them apart again.
    payload = {
        **user_json(link.user),
        "action_link": link.action_link,
        "email_otp": link.email_otp,
        "hashed_token": link.hashed_token,
        "verification_type": link.verification_type,
        "redirect_to": link.redirect_to,
    }
    db.session.commit()
    return json_response(payload)
