"""What every test's fresh app can take from the apps before it in the same test process: URL
rules' parsed parts and builders, compiled console templates, and the engine (with its
compiled statements and pooled connections). ``install()`` is called once, by the conftest."""

from __future__ import annotations

import functools
import weakref

import jinja2
import jinja2.bccache
import sqlalchemy as sa
from werkzeug.routing import rules as werkzeug_rules

from gotrue_web import GoTrueFlask
from gotrue_web.extensions import db


def _reuse_compiled_rules() -> None:
    """Every test builds a fresh app, and werkzeug compiles each of its ~490 URL rules for it:
    parsing the text into matching parts, then generating two URL builders (Python source
    compiled per rule: most of an app's cost). All of it depends only on the rule's text, its
    defaults and the map's options and converter classes (a converter keeps its first map,
    which it never reads; a builder reads everything else through the rule at call time), so
    each rule is compiled once per test process and later apps' identical rules take copies of
    its parts and the same builders."""
    compile_rule = werkzeug_rules.Rule.compile
    compiled: dict = {}
    map_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def map_key(url_map) -> tuple:
        key = map_keys.get(url_map)
        if key is None:
            key = map_keys[url_map] = (url_map.host_matching,
                                       tuple(sorted(url_map.converters.items())))
        return key

    def compile_once(rule) -> None:
        try:
            key = (rule.rule, rule.subdomain, rule.host, rule.merge_slashes, map_key(rule.map),
                   tuple(sorted((rule.defaults or {}).items())) if rule.defaults else ())
            known = compiled.get(key)
        except TypeError:  # defaults that cannot be a key: compile as werkzeug would
            compile_rule(rule)
            return
        if known is None:
            compile_rule(rule)
            compiled[key] = (list(rule._parts), list(rule._trace), dict(rule._converters),
                             frozenset(rule.arguments), rule._build.__func__,
                             rule._build_unknown.__func__)
            return
        parts, trace, converters, arguments, build, build_unknown = known
        rule._parts, rule._trace, rule._converters = list(parts), list(trace), dict(converters)
        rule.arguments.update(arguments)
        rule._build = build.__get__(rule, None)
        rule._build_unknown = build_unknown.__get__(rule, None)

    werkzeug_rules.Rule.compile = compile_once


class _SharedTemplateCode(jinja2.BytecodeCache):
    """Each test's fresh app has a fresh Jinja environment that would compile every console
    template again (a third of a console test's time). Compiled code depends only on the
    template's source (the bucket's key and checksum) and the environment's options, which
    every app shares, so the test process keeps it once, in memory, for all of them."""

    def __init__(self):
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


class _SharedEngines:
    """Every test builds a fresh app, and a fresh engine starts with an empty statement cache
    (compiling SQL was an eighth of a test's time) and, on PostgreSQL and MariaDB, no server
    connection (a new server session or two per test). The apps of a test process that use the
    run's database with the same engine options share one engine instead: each statement is
    compiled once per process and connections stay pooled from one test to the next.

    Not shared: engines of another URL (a test's proxy, a database made to fail) and those of
    apps with tracing or metrics on, which instrument their engine. A shared engine that
    invalidated a connection during a test (a database fault), or still has one checked out
    after it, is disposed and replaced, as every engine used to be."""

    def __init__(self):
        self.database_url: str | None = None  # the test_database fixture's
        self._engines: dict[tuple, sa.engine.Engine] = {}
        self._troubled: set[sa.engine.Engine] = set()
        self._make_engine = db._make_engine  # flask-sqlalchemy's: fails here if it goes away

    def make(self, bind_key, options: dict, app) -> sa.engine.Engine:
        settings = app.config["GOTRUE_SETTINGS"]
        url = sa.engine.make_url(options["url"]).render_as_string(hide_password=False)
        if (url != self.database_url or settings.tracing.enabled
                or settings.metrics.enabled):
            return self._make_engine(bind_key, options, app)
        key = (bind_key, repr(sorted((name, value) for name, value in options.items()
                                     if name != "url")))
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = self._make_engine(bind_key, options, app)
            sa.event.listen(engine, "invalidate", functools.partial(self._invalidated, engine))
        return engine

    def _invalidated(self, engine, _dbapi_connection, _record, error) -> None:
        # Without an error: a connection put aside on purpose (the live settings' SQLite
        # reader), not a fault.
        if error is not None:
            self._troubled.add(engine)

    def release(self, engine: sa.engine.Engine) -> None:
        """After a test: keep a healthy shared engine, dispose of any other."""
        checked_out = getattr(engine.pool, "checkedout", lambda: 0)()
        if engine in self._engines.values() and not checked_out and engine not in self._troubled:
            return
        engine.dispose()
        self._troubled.discard(engine)
        self._engines = {key: kept for key, kept in self._engines.items() if kept is not engine}


shared_engines = _SharedEngines()


def install() -> None:
    _reuse_compiled_rules()
    GoTrueFlask.jinja_options = {**GoTrueFlask.jinja_options,
                                 "bytecode_cache": _SharedTemplateCode()}
    db._make_engine = shared_engines.make
