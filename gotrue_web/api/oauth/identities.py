"""GET /user/identities/authorize and DELETE /user/identities/{identity_id} (spec oauth-sso.md
section 4). Parity: GoTrue internal/api/identity.go."""

from __future__ import annotations

from flask import g, redirect, request

from ...extensions import db
from ...runtime import current_runtime
from ...security.access_tokens import claim_audiences
from ...services import pkce
from ...services.oauth import identities
from ..errors import json_response
from ..params import oauth_referrer, request_audience


def link_identity():
    args = request.args
    rt = current_runtime()
    identities.require_manual_linking(rt)
    pkce_params = pkce.parse_params(args.get("code_challenge", ""),
                                    args.get("code_challenge_method", ""))
    # skip_http_redirect is ours: it is not passed on to the provider.
    query = [(k, v) for k, v in args.items(multi=True) if k != "skip_http_redirect"]
    location = identities.start_linking(
        rt, g.caller.user, provider_query=args.get("provider", ""),
        scopes=args.get("scopes", ""), pkce_params=pkce_params, referrer=oauth_referrer(),
        query=query)
    db.session.commit()
    if args.get("skip_http_redirect") == "true":
        return json_response({"url": location})
    return redirect(location, 302)


def unlink_identity(identity_id: str):
    caller = g.caller
    identities.unlink(current_runtime(), caller.user, identity_id,
                      token_audiences=claim_audiences(caller.claims),
                      request_aud=request_audience(caller.claims), info=caller.info)
    db.session.commit()
    return json_response({})
