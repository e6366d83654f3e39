"""Calling a hook that is a PostgreSQL function: ``select "<schema>"."<function>"(<input>)``.

The input JSON travels as an untyped parameter, so PostgreSQL resolves it by the function's
signature (``jsonb`` or ``json``). Inside the caller's transaction the call gets GoTrue's 2 s
statement timeout (SET LOCAL); on a connection outside any transaction SET LOCAL has no effect,
as in GoTrue.
"""

from __future__ import annotations

import json

from . import HookFunctionError

STATEMENT_TIMEOUT_MS = 2000


def call_function(driver_connection, schema: str, function: str, payload: str) -> bytes | None:
    """Run the function on ``driver_connection`` (a psycopg connection) and return its result
    as JSON bytes (None for NULL); raises HookFunctionError."""
    statement = f'select "{schema}"."{function}"(%(event)s)'
    try:
        with driver_connection.cursor() as cursor:
            cursor.execute(f"set local statement_timeout TO '{STATEMENT_TIMEOUT_MS}'")
            cursor.execute(statement, {"event": payload})
            row = cursor.fetchone()
            cursor.execute("set local statement_timeout TO default")
    except Exception as error:  # noqa: BLE001 - any database error is the hook's failure
        raise HookFunctionError(str(error).splitlines()[0] if str(error) else
                                type(error).__name__) from error
    value = row[0] if row else None
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value, separators=(",", ":")).encode()
