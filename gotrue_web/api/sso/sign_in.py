"""POST /sso: start a SAML sign-in (GoTrue internal/api/sso.go SingleSignOn; spec
oauth-sso.md section 5). By ``provider_id`` or ``domain``; a 303 to the identity provider, or
``{"url"}`` with ``skip_http_redirect`` (what auth-js and supabase_auth send). Captcha and the
``sso`` rate limit are on the route line."""

from __future__ import annotations

from flask import redirect

from ...extensions import db
from ...runtime import current_runtime
from ...services.sso import sign_in
from ..errors import json_response
from ..params import json_body, pkce_params


def single_sign_on():
    body = json_body()
    pkce = pkce_params(body)
    url = sign_in.start(current_runtime(), provider_id=body.str("provider_id"),
                        domain=body.str("domain"), redirect_to=body.str("redirect_to"),
                        pkce_params=pkce)
    db.session.commit()
    if body.bool("skip_http_redirect"):
        return json_response({"url": url})
    return redirect(url, 303)
