"""Reading request input the way GoTrue does: the body is JSON whatever its Content-Type.

Unknown keys are ignored; a malformed body or a value of the wrong JSON type is 400 bad_json.
Also the request facts every endpoint shares, each worked out in one place: the audience
(request_audience), the redirect target (resolved_redirect) and the PKCE parameters, and the
query parameters and headers of GoTrue's paged admin lists (page_param, link_header).
"""

from __future__ import annotations

import json
import math
from urllib.parse import urlencode

from flask import request

from ..errors import ErrorCode, bad_request
from ..runtime import RequestInfo, current_runtime
from ..security import redirects
from ..security.access_tokens import claim_audience
from ..services import pkce
from ..services.validation import MAX_JSON_DEPTH, json_storage_problem

# users.aud is a varchar(255).
MAX_AUDIENCE_LENGTH = 255
# Bounds that keep LIMIT/OFFSET inside a 64-bit integer on every database.
MAX_PAGINATION_VALUE = 2**31 - 1


def _bad_json(detail: str):
    return bad_request(ErrorCode.BAD_JSON, f"Could not parse request body as JSON: {detail}")


class Body:
    """A parsed JSON object body with typed accessors."""

    def __init__(self, data: dict):
        self.data = data

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def str(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _bad_json(f"field {key!r} must be a string")
        return value

    def optional_str(self, key: str) -> str | None:
        """The string value, or None when the key is missing or null."""
        return None if self.data.get(key) is None else self.str(key)

    def bool(self, key: str, default: bool = False) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise _bad_json(f"field {key!r} must be a boolean")
        return value

    def object(self, key: str) -> dict | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _bad_json(f"field {key!r} must be an object")
        return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def json_body(*, optional: bool = False) -> Body:
    """The request body as a JSON object; 400 bad_json when it is empty or not an object."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if optional:
            return Body({})
        raise _bad_json("request body is empty")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise _bad_json("body is not UTF-8") from None
    except RecursionError:
        raise _bad_json(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        # JSONDecodeError, NaN/Infinity, or an integer too long to convert.
        raise _bad_json(str(exc)) from None
    if not isinstance(data, dict):
        raise _bad_json("expected a JSON object")
    # Any object a client sends must be storable as metadata on every supported database.
    problem = json_storage_problem(data)
    if problem:
        raise _bad_json(problem)
    return Body(data)


def pkce_params(body: Body) -> pkce.PKCEParams | None:
    """code_challenge and code_challenge_method of the body, validated; None without them."""
    return pkce.parse_params(body.str("code_challenge"), body.str("code_challenge_method"))


def redirect_to_param(body: Body | None = None) -> str:
    """redirect_to from the header, then the query string or body, then the Referer."""
    value = request.headers.get("redirect_to") or request.args.get("redirect_to")
    if not value and body is not None:
        value = body.str("redirect_to")
    return value or request.headers.get("Referer", "")


def oauth_referrer() -> str:
    """Where an OAuth flow ends (GET /authorize, identity linking): a valid redirect_to (query
    or form), else a valid Referer, else SITE_URL."""
    settings = current_runtime().settings
    for candidate in (request.values.get("redirect_to", ""), request.headers.get("Referer", "")):
        if candidate and redirects.is_valid(candidate, settings.site_url,
                                            settings.uri_allow_list):
            return candidate
    return settings.site_url


def resolved_redirect(body: Body | None = None) -> str:
    """Where the flow ends: the request's redirect_to when the allow-list permits it, else
    GOTRUE_SITE_URL (the one place a redirect target is chosen)."""
    settings = current_runtime().settings
    return redirects.resolve(redirect_to_param(body), settings.site_url, settings.uri_allow_list)


def request_audience(claims: dict | None = None) -> str:
    """The request's audience: X-JWT-AUD, else the caller's JWT aud, else GOTRUE_JWT_AUD."""
    return (request.headers.get("X-JWT-AUD") or (claim_audience(claims) if claims else "")
            or current_runtime().settings.jwt.aud)


def request_info(claims: dict | None = None) -> RequestInfo:
    """IP, user agent and audience (request_audience) of the current request."""
    aud = request_audience(claims)
    if len(aud) > MAX_AUDIENCE_LENGTH or "\x00" in aud:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Audience must be at most {MAX_AUDIENCE_LENGTH} characters, "
                          "without NUL")
    environ = request.environ  # one proxy lookup for both (every authenticated request)
    return RequestInfo(
        ip=environ.get("REMOTE_ADDR") or "",
        user_agent=environ.get("HTTP_USER_AGENT", "")[:1024],
        aud=aud,
    )


def refuse_nul(value: str, where: str) -> None:
    """400 for a NUL character in query text, which PostgreSQL cannot take as a parameter."""
    if "\x00" in value:
        raise bad_request(ErrorCode.VALIDATION_FAILED, f"{where} must not contain NUL")


def page_param(name: str, default: int) -> int:
    """page / per_page of a paged admin list: a positive integer, empty means the default;
    anything else is GoTrue's 400 "Bad Pagination Parameters"."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGINATION_VALUE:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Bad Pagination Parameters: {name} must be a positive integer")
    return int(raw)


def link_header(page: int, per_page: int, total: int) -> str:
    """GoTrue's Link header: the request path and query with ``page`` replaced, keys sorted.

    ``next`` only when more rows follow; ``last`` always (page 0 when there are none).
    """
    query = {key: values for key, values in request.args.lists()}

    def link(page_number: int, rel: str) -> str:
        query["page"] = [str(page_number)]
        return f'<{request.path}?{urlencode(sorted(query.items()), doseq=True)}>; rel="{rel}"'

    links = []
    if total > page * per_page:
        links.append(link(page + 1, "next"))
    links.append(link(math.ceil(total / per_page), "last"))
    return ", ".join(links)
