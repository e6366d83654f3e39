"""The service provider's endpoints (GoTrue internal/api/saml.go and samlacs.go; spec
oauth-sso.md section 5): GET /sso/saml/metadata, and POST /sso/saml/acs, where identity
providers post their responses.

The ACS answers a browser: a failure is a 303 to SITE_URL with ``error``, ``error_code`` and
``error_description`` in the query; a success a 302 to the (allowed) redirect target, with the
session in the fragment, or ``?code=`` for a PKCE flow.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Response, redirect, request

from ...errors import GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ...services.sso import acs, service_provider
from ..params import request_info

# OAuth error names by status, as GoTrue puts them in redirects; other statuses: server_error.
_ERROR_NAMES = {400: "invalid_request", 401: "unauthorized_client", 403: "access_denied",
                500: "server_error", 503: "temporarily_unavailable"}


def metadata():
    rt = current_runtime()
    sp = service_provider.of(rt.settings)
    download = request.args.get("download") == "true"
    response = Response(service_provider.metadata_xml(sp, rt.now(), download=download))
    response.headers["Content-Type"] = "application/xml"
    # With a key being rotated in, identity providers and caches should look again soon.
    max_age = 60 if sp.next_key is not None else 600
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    if download:
        response.headers["Content-Disposition"] = 'attachment; filename="metadata.xml"'
    return response


def _with_query(url: str, values: dict) -> str:
    """``url`` with ``values`` set in its query, keys sorted (Go's url.Values.Encode)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    query = sorted(query + list(values.items()), key=lambda item: item[0])
    return urlunsplit(parts._replace(query=urlencode(query)))


def _redirect(location: str, status: int):
    response = redirect(location, status)
    # The landing page must not pass a URL with a code or tokens on to other sites.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def assertion_consumer_service():
    rt = current_runtime()
    form = acs.ACSForm(saml_response=request.form.get("SAMLResponse", ""),
                       relay_state=request.form.get("RelayState", ""),
                       saml_artifact=request.form.get("SAMLart", ""))
    try:
        finished = acs.consume(rt, form, request_info())
    except GoTrueError as error:
        if error.commit_first:
            db.session.commit()
        else:
            db.session.rollback()
        values = {"error": _ERROR_NAMES.get(error.status, "server_error"),
                  "error_code": error.error_code, "error_description": error.message}
        return _redirect(_with_query(rt.settings.site_url, values), 303)
    db.session.commit()
    if finished.session is None:
        return _redirect(_with_query(finished.redirect_to, {"code": finished.auth_code}), 302)
    issued = finished.session
    values = {"access_token": issued.access_token, "expires_at": str(issued.expires_at),
              "expires_in": str(issued.expires_in), "refresh_token": issued.refresh_token,
              "sb": "", "token_type": "bearer"}
    return _redirect(finished.redirect_to + "#" + urlencode(sorted(values.items())), 302)
