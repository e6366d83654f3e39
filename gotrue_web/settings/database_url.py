"""DATABASE_URL in the forms GoTrue accepts, turned into a SQLAlchemy URL."""

from __future__ import annotations

import math
import re
from urllib.parse import quote, unquote

import sqlalchemy as sa

from ..durations import parse_seconds_or_duration

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_LIBPQ_PAIR = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)")
_LIBPQ_URL_PARTS = ("user", "password", "host", "port", "dbname")
# pgx (GoTrue's driver) options that libpq, and so psycopg, would reject.
_PGX_ONLY = {"pool_max_conns", "pool_min_conns", "pool_max_conn_lifetime",
             "pool_max_conn_idle_time", "pool_health_check_period",
             "pool_max_conn_lifetime_jitter", "statement_cache_capacity",
             "description_cache_capacity", "default_query_exec_mode", "prefer_simple_protocol",
             "search_path"}
# go-sql-driver/mysql parameters; the ones PyMySQL has an equivalent for are translated.
_GO_MYSQL_PARAMS = {
    "allowallfiles", "allowcleartextpasswords", "allowfallbacktoplaintext",
    "allownativepasswords", "allowoldpasswords", "charset", "checkconnliveness", "collation",
    "clientfoundrows", "columnswithalias", "interpolateparams", "loc", "timetruncate",
    "maxallowedpacket", "multistatements", "parsetime", "readtimeout", "rejectreadonly",
    "serverpubkey", "timeout", "tls", "writetimeout", "connectionattributes",
}
_GO_MYSQL_TIMEOUTS = {"timeout": "connect_timeout", "readtimeout": "read_timeout",
                      "writetimeout": "write_timeout"}


def normalize_database_url(raw: str) -> str:
    """Turn GoTrue's DATABASE_URL forms into a SQLAlchemy URL; ValueError when it is none.

    Accepts ``postgres://`` / ``postgresql://`` URLs, libpq ``key=value`` strings, Go MySQL DSNs
    (``user:pass@tcp(host:3306)/db?parseTime=true`` or ``root@localhost/gotrue``), ``mysql://``
    URLs, and anything that already is a SQLAlchemy URL (returned unchanged).
    """
    value = raw.strip()
    scheme_match = _URL_SCHEME.match(value)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        if scheme in ("postgres", "postgresql"):
            url = _postgres_url(value[scheme_match.end():])
        elif scheme in ("mysql", "mariadb"):
            url = _mysql_url_from_url(value)
        else:
            url = value
    elif re.match(r"\w+\s*=", value):
        url = _postgres_url_from_libpq(value)
    elif "/" in value and ("@" in value or "(" in value):
        url = _mysql_url_from_go_dsn(value)
    else:
        raise ValueError("unrecognised database URL")
    try:
        sa.engine.make_url(url).get_dialect()
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError):
        raise ValueError("unrecognised database URL") from None
    return url


def _postgres_url(rest: str) -> str:
    location, _, query = rest.partition("?")
    params = [p for p in query.split("&")
              if p and unquote(p.partition("=")[0]).lower() not in _PGX_ONLY]
    return "postgresql+psycopg://" + location + ("?" + "&".join(params) if params else "")


def _postgres_url_from_libpq(conninfo: str) -> str:
    pairs: dict[str, str] = {}
    position = 0
    while position < len(conninfo):
        match = _LIBPQ_PAIR.match(conninfo, position)
        if not match or match.end() == position:
            if conninfo[position:].strip():
                raise ValueError("malformed key=value connection string")
            break
        name, text = match.group(1), match.group(2)
        if text.startswith("'"):
            text = text[1:-1]
        pairs[name] = re.sub(r"\\(.)", r"\1", text)
        position = match.end()
    user, password = pairs.pop("user", ""), pairs.pop("password", "")
    host, port = pairs.pop("host", ""), pairs.pop("port", "")
    dbname = pairs.pop("dbname", "")
    # Socket directories and host lists cannot go in the URL's authority; libpq reads them
    # from the query string as well.
    if host and ("/" in host or "," in host):
        pairs["host"] = host
        host = ""
    if port and not port.isdigit():
        pairs["port"] = port
        port = ""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = (auth + "@" if auth else "") + host + (":" + port if port else "")
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs.items())
    return f"postgresql+psycopg://{netloc}/{quote(dbname, safe='')}" + (
        "?" + query if query else "")


def _mysql_query(params: list[tuple[str, str]]) -> dict[str, str]:
    """PyMySQL query arguments for a DSN's parameters (Go-only ones dropped)."""
    query: dict[str, str] = {}
    for name, value in params:
        lowered = name.lower()
        if lowered == "charset":
            query["charset"] = value.split(",")[0]
        elif lowered == "collation":
            query["collation"] = value
        elif lowered in _GO_MYSQL_TIMEOUTS:
            seconds = parse_seconds_or_duration(value).total_seconds()
            query[_GO_MYSQL_TIMEOUTS[lowered]] = str(max(1, math.ceil(seconds)))
        elif lowered == "tls":
            if value.lower() in ("false", "0"):
                # As the Go driver: no TLS at all. (Without the parameter PyMySQL still tries
                # TLS when the server offers it.)
                query["ssl_disabled"] = "true"
            else:
                # TLS stays on; PyMySQL verifies the server only when ssl_ca is given as well.
                query["ssl_check_hostname"] = "false"
        elif lowered not in _GO_MYSQL_PARAMS:
            query[name] = value
    query.setdefault("charset", "utf8mb4")
    return query


def _mysql_url_from_url(value: str) -> str:
    url = sa.engine.make_url(value)
    params = [(name, item) for name, items in url.query.items()
              for item in ((items,) if isinstance(items, str) else items)]
    return url.set(drivername="mysql+pymysql", query=_mysql_query(params)).render_as_string(
        hide_password=False)


def _mysql_url_from_go_dsn(dsn: str) -> str:
    """``[user[:password]@][net[(addr)]]/dbname[?params]``, split the way the Go driver does."""
    slash = dsn.rindex("/")
    left, right = dsn[:slash], dsn[slash + 1:]
    credentials, at, location = left.rpartition("@")
    if not at:
        credentials, location = "", left
    user, _, password = credentials.partition(":")
    network, paren, address = location.partition("(")
    query: dict[str, str] = {}
    if paren:
        if not address.endswith(")"):
            raise ValueError("malformed Go MySQL DSN address")
        address = address[:-1]
        if network == "unix":
            query["unix_socket"], address = address, ""
    else:
        # "root@localhost/gotrue": the host written where the network would go.
        address = network
    host, port = address, None
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif address.count(":") == 1:
        host, port = address.split(":")
    database, _, raw_query = right.partition("?")
    params = [(name, unquote(item)) for name, _, item in
              (p.partition("=") for p in raw_query.split("&") if p)]
    query.update(_mysql_query(params))
    return sa.engine.URL.create(
        "mysql+pymysql", username=user or None, password=password or None,
        host=host or "localhost", port=int(port) if port else None, database=database or None,
        query=query,
    ).render_as_string(hide_password=False)


# --- from_env -------------------------------------------------------------------------------
