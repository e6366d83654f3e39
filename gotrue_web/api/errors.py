"""Rendering errors as GoTrue does: the body shape chosen by X-Supabase-Api-Version.

Wire format: ``{"code", "message"}`` for API version 2024-01-01 and later, else the legacy
``{"code": <status>, "error_code", "msg"}``; the code always in ``x-sb-error-code``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import date

import orjson
from flask import Response, request
from werkzeug.exceptions import HTTPException

from ..errors import ErrorCode, GoTrueError, OAuthError, WeakPasswordError

log = logging.getLogger("gotrue_web.api")

API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024_01_01 = date(2024, 1, 1)
_VERSION = re.compile(r"(\d{4})-(\d{2})-(\d{2})")

# HTTP errors raised by routing or werkzeug, with the codes GoTrue gives them.
_HTTP_CODES = {
    404: (ErrorCode.NOT_FOUND, "Not Found"),
    405: (ErrorCode.METHOD_NOT_ALLOWED, "Method Not Allowed"),
    413: (ErrorCode.REQUEST_ENTITY_TOO_LARGE, "Request body too large"),
}


def requested_api_version() -> date | None:
    match = _VERSION.fullmatch(request.headers.get(API_VERSION_HEADER, "").strip())
    if not match:
        return None
    try:
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def json_bytes(body) -> bytes:
    """Compact UTF-8 JSON in the key order the serializers chose. orjson writes it over ten
    times faster than json, on every answer; json takes what orjson refuses: integers beyond
    64 bits (a user's metadata may hold them), keys that are not strings, lone surrogates
    (json's ASCII escapes keep even those valid UTF-8)."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(body, separators=(",", ":")).encode()


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    """A compact JSON response that keeps the key order the serializers chose."""
    response = Response(json_bytes(body), status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_error(error: GoTrueError) -> Response:
    version = requested_api_version()
    # An error a hook returned carries no error code: the key and the header are left out.
    headers = {"x-sb-error-code": error.error_code} if error.error_code else {}
    headers.update(error.headers)
    if version is not None and version >= API_VERSION_2024_01_01:
        fallback = ErrorCode.UNEXPECTED_FAILURE if error.status == 500 else "unknown"
        body: dict = {"code": error.error_code or fallback, "message": error.message}
        headers[API_VERSION_HEADER] = "2024-01-01"
    else:
        body = {"code": error.status, "error_code": error.error_code, "msg": error.message}
        if not error.error_code:
            del body["error_code"]
        if error.status >= 500:
            body["error_id"] = str(uuid.uuid4())
    if isinstance(error, WeakPasswordError):
        body["weak_password"] = {"reasons": error.reasons}
    return json_response(body, error.status, headers)


def render_oauth_error(error: OAuthError) -> Response:
    return json_response({"error": error.error, "error_description": error.description},
                         error.status)


def from_http_exception(exc: HTTPException) -> GoTrueError:
    status = exc.code or 500
    fallback = ErrorCode.UNEXPECTED_FAILURE if status >= 500 else "unknown"
    code, message = _HTTP_CODES.get(status, (fallback, exc.name))
    headers = {}
    valid_methods = getattr(exc, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(valid_methods)
    return GoTrueError(status, code, message, headers=headers)


# A database that is down, read-only or full (db.database_unavailable): 503, and the client may
# try again shortly. GoTrue has no dedicated code for it, so the code stays unexpected_failure.
DATABASE_UNAVAILABLE_MESSAGE = "Database unavailable, please try again shortly"
DATABASE_RETRY_AFTER_SECONDS = 1


def from_database_unavailable(exc: BaseException, reason: str) -> GoTrueError:
    """503 for a request the database could not serve. One warning line, without a traceback
    or the driver's text (which can name hosts and users): the reason word and the error's
    type say what happened."""
    log.warning("database unavailable (%s, %s) while handling %s %s", reason,
                type(getattr(exc, "orig", None) or exc).__name__, request.method, request.path)
    return GoTrueError(503, ErrorCode.UNEXPECTED_FAILURE, DATABASE_UNAVAILABLE_MESSAGE,
                       headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def from_unexpected(exc: BaseException) -> GoTrueError:
    log.exception("unexpected failure while handling %s %s", request.method, request.path,
                  exc_info=exc)
    return GoTrueError(500, ErrorCode.UNEXPECTED_FAILURE,
                       "Unexpected failure, please check server logs for more information")
