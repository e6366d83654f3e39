"""The custom_access_token hook: the hook rewrites an access token's claims before it is signed.

Every mint calls it (sign-ins of every kind, refresh, MFA step-up) with the claims the server
would sign and the sign-in's authentication method; the ``claims`` object of its output becomes
the whole JWT payload once it passes GoTrue's minimum token schema (phone-sms.md section 4.4,
api-contract.md section 5). The answer's expires_in / expires_at stay the server's.

It runs inside the request's transaction: a pg-functions hook sees the rows the request wrote
(they are flushed first) and its failure rolls the request back.
"""

from __future__ import annotations

import uuid

from ...errors import internal
from ...extensions import db
from ...runtime import Runtime
from . import invoke

NAME = "custom_access_token"
# The claims a token must keep (GoTrue's MinimumViableTokenSchema "required").
REQUIRED = ("aud", "exp", "iat", "sub", "email", "phone", "role", "aal", "session_id",
            "is_anonymous")
# The schema's property types, in its order. is_anonymous is required but has no type there.
TYPES = {
    "aud": ("string", "array"),
    "exp": ("integer",),
    "jti": ("string",),
    "iat": ("integer",),
    "iss": ("string",),
    "nbf": ("integer",),
    "sub": ("string",),
    "email": ("string",),
    "phone": ("string",),
    "app_metadata": ("object",),
    "user_metadata": ("object",),
    "role": ("string",),
    "aal": ("string",),
    "amr": ("array",),
    "session_id": ("string",),
}
SCHEMA_ERROR = "output claims do not conform to the expected schema: \n"


def customize(rt: Runtime, user_id: uuid.UUID, claims: dict, authentication_method: str,
              ip: str = "") -> dict:
    """The claims to sign: the hook's output ``claims`` for the server's ``claims``.

    Raises the hook's own errors, and 500 when the output has no claims object or the claims
    break the schema."""
    if rt.settings.hooks.custom_access_token.is_pg_function:
        # As in GoTrue, the function runs after the session and its token were written.
        db.session.flush()
    output = invoke(rt, NAME, {"user_id": str(user_id), "claims": claims,
                               "authentication_method": authentication_method}, ip=ip)
    custom = None if output is None else output.get("claims")
    if custom is None:
        # A 204, a null output or claims null: Go's map stays nil.
        raise internal("output claims field is missing")
    if not isinstance(custom, dict):
        raise internal("Error unmarshaling JSON output.")
    problems = schema_violations(custom)
    if problems:
        raise internal(SCHEMA_ERROR + "".join(f"- {problem}\n" for problem in problems))
    return custom


def json_type(value) -> str:
    """The JSON Schema type name of a decoded JSON value (an integral float is an integer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expected(types: tuple[str, ...]) -> str:
    return types[0] if len(types) == 1 else "[" + ",".join(types) + "]"


def schema_violations(claims: dict) -> list[str]:
    """What breaks the schema, as gojsonschema words it ("<field>: <reason>"): missing required
    claims first, then claims of the wrong type, then amr entries that are not objects."""
    problems = [f"(root): {name} is required" for name in REQUIRED if name not in claims]
    for name, types in TYPES.items():
        if name not in claims:
            continue
        given = json_type(claims[name])
        if given not in types:
            problems.append(f"{name}: Invalid type. Expected: {_expected(types)}, given: {given}")
    amr = claims.get("amr")
    if isinstance(amr, list):
        problems.extend(f"amr.{index}: Invalid type. Expected: object, given: {json_type(item)}"
                        for index, item in enumerate(amr) if not isinstance(item, dict))
    return problems
