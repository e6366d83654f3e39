"""The hot paths' statements on PostgreSQL, sent through libpq's prepared-statement calls.

psycopg's cursor costs about 35 us of Python per statement around the server's answer (its
query conversion, prepared-statement bookkeeping and the generator that waits for the reply);
the same statement through the libpq calls psycopg exposes on ``Connection.pgconn``
(PQprepare and PQexecPrepared, which release the GIL while they wait) costs about 10. Values
are converted both ways by psycopg's own Transformer with the connection's adapters, and a
statement is prepared once per distinct set of parameter types, as psycopg's cursor does, so
rows read back exactly as through it. Errors are psycopg's own: a server error becomes the
exception psycopg raises for it, a lost connection its OperationalError.

Used only on a thread's own autocommit connection (driver_sql._OwnConnection): no other
thread touches it, and no transaction spans two statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from psycopg import errors
from psycopg.adapt import AdaptersMap, Loader, PyFormat, Transformer
from psycopg.pq import ConnStatus, ExecStatus

_ANSWERED = (ExecStatus.TUPLES_OK, ExecStatus.COMMAND_OK)
# Distinct from psycopg's own names (_pg3_N) on the same connection.
_NAME_PREFIX = "gotrue_web_"


_scan_json = json.JSONDecoder().scan_once


class _JsonText(Loader):
    """json and jsonb values read exactly as json.loads reads them (every number kept as
    written), for a third of the cost of psycopg's own loader, which takes json.loads' way
    through bytes: ~1.5 us a value, and GET /user reads three. The scanner takes one value
    from the start of the text; anything else (whitespace a json column kept, an invalid
    text) goes to json.loads, which reads or rejects it."""

    def load(self, data) -> object:
        text = bytes(data).decode()
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(text)
        return value if end == len(text) else json.loads(text)


class _Context:
    """The Transformer's adaptation context: the connection's adapters with _JsonText, in a
    map of its own (the connection's is left as it is)."""

    __slots__ = ("adapters", "connection")

    def __init__(self, connection) -> None:
        self.connection = connection
        self.adapters = AdaptersMap(connection.adapters)
        for name in ("json", "jsonb"):
            self.adapters.register_loader(name, _JsonText)


class LibpqCursor:
    """Cursor-shaped (execute, fetchall, rowcount) for SQL with numbered placeholders ($1)."""

    __slots__ = ("_encoding", "_pgconn", "_prepare", "_prepared", "_result", "_transformer",
                 "rowcount")

    def __init__(self, connection) -> None:
        self._pgconn = connection.pgconn
        self._encoding = connection.info.encoding
        self._transformer = Transformer(_Context(connection))
        # prepare_threshold None turns psycopg's prepared statements off (for a pooler in
        # transaction mode, say): then this sends each statement unnamed, as psycopg would.
        self._prepare = connection.prepare_threshold is not None
        self._prepared: dict[tuple, bytes] = {}
        self._result = None
        self.rowcount = -1

    def execute(self, sql: str, params: Sequence) -> None:
        transformer = self._transformer
        values = transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
        types, formats = transformer.types, transformer.formats
        self._result = None
        if not self._prepare:
            result = self._pgconn.exec_params(sql.encode(self._encoding), values, types, formats)
        else:
            key = (sql, types)
            name = self._prepared.get(key)
            if name is None:
                name = f"{_NAME_PREFIX}{len(self._prepared)}".encode()
                self._check(self._pgconn.prepare(name, sql.encode(self._encoding), types))
                self._prepared[key] = name
            result = self._pgconn.exec_prepared(name, values, formats)
        self._check(result)
        self._result = result
        tuples = result.command_tuples
        self.rowcount = -1 if tuples is None else tuples

    def fetchall(self) -> list[list]:
        result = self._result
        if result is None or result.status != ExecStatus.TUPLES_OK:
            raise errors.ProgrammingError("the last statement returned no rows")
        self._transformer.set_pgresult(result)
        return self._transformer.load_rows(0, result.ntuples, list)

    def _check(self, result) -> None:
        if result.status in _ANSWERED:
            return
        if self._pgconn.status == ConnStatus.BAD:
            # libpq's own report of a lost connection carries no SQLSTATE; psycopg's cursor
            # raises OperationalError for it, which db.database_unavailable knows.
            message = (result.error_message or self._pgconn.error_message).decode(
                self._encoding, "replace").strip()
            raise errors.OperationalError(message or "the connection to the server was lost")
        raise errors.error_from_result(result, encoding=self._encoding)
