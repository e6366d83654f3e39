"""GET /authorize: start an external OAuth sign-in (spec oauth-sso.md 1.1).

Parity: GoTrue internal/api/external.go ExternalProviderRedirect. No limiter and no captcha, as
in GoTrue: the request only creates a short-lived flow_state row and redirects.
"""

from __future__ import annotations

from flask import redirect, request

from ...extensions import db
from ...runtime import current_runtime
from ...services import pkce
from ...services.oauth import flow
from ..params import oauth_referrer


def authorize():
    args = request.args
    pkce_params = pkce.parse_params(args.get("code_challenge", ""),
                                    args.get("code_challenge_method", ""))
    location = flow.start(
        current_runtime(), provider_query=args.get("provider", ""),
        scopes=args.get("scopes", ""), pkce_params=pkce_params,
        invite_token=args.get("invite_token", ""), referrer=oauth_referrer(),
        query=list(args.items(multi=True)),
    )
    db.session.commit()
    return redirect(location, 302)
