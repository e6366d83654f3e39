"""Log records as JSON lines, with GoTrue's field names (logrus' JSON: ``level``, ``msg``,
``time``, ``component``, ``error``, ``request_id``; keys in alphabetical order as logrus
writes them).

Used for the application's records (a handler on the root logger, so third-party warnings come
out as JSON too) and for gunicorn's error log (gunicorn.conf.py). Nothing secret may reach a
line: the application never logs tokens, codes or passwords, SQLAlchemy's engines hide bound
parameters, and as a last line of defence query strings of URLs and SQLAlchemy's
``[parameters: ...]`` are cut from messages and exception text.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from typing import Iterable

from .request_ids import current_request_id

# GOTRUE_LOG_LEVEL takes logrus' level names; Python's "critical" is accepted too. An unknown
# name means info (and is a start-up warning: is_level).
_PYTHON_LEVELS = {
    "panic": logging.CRITICAL, "fatal": logging.CRITICAL, "critical": logging.CRITICAL,
    "error": logging.ERROR, "warn": logging.WARNING, "warning": logging.WARNING,
    "info": logging.INFO, "debug": logging.DEBUG, "trace": logging.DEBUG,
}
# Python level -> the name logrus writes for it.
_LEVEL_NAMES = {
    logging.CRITICAL: "fatal", logging.ERROR: "error", logging.WARNING: "warning",
    logging.INFO: "info", logging.DEBUG: "debug",
}

# A URL's query string ("/verify?token=..."): tokens travel there.
_QUERY = re.compile(r"(/[^\s?\"'<>]*)\?[^\s\"'<>]+")
# SQLAlchemy's rendering of bound values, should an engine ever show them.
_PARAMETERS = re.compile(r"^\[parameters: .*$", re.M)


def python_level(name: str) -> int:
    return _PYTHON_LEVELS.get(name.strip().lower(), logging.INFO)


def is_level(name: str) -> bool:
    return name.strip().lower() in _PYTHON_LEVELS


def gunicorn_level(name: str) -> str:
    """The same level as gunicorn's ``loglevel`` names it."""
    return logging.getLevelName(python_level(name)).lower()


def redact(text: str) -> str:
    if "?" in text:
        text = _QUERY.sub(r"\1?[redacted]", text)
    if "[parameters: " in text:
        text = _PARAMETERS.sub("[parameters hidden]", text)
    return text


class Clock:
    """RFC 3339 UTC times with microseconds; the date and time of day are formatted once per
    second (strftime costs more than the rest of a record)."""

    def __init__(self):
        # (second, its date and time of day): one tuple, replaced whole, so threads read a pair.
        self._cached: tuple[int, str] = (-1, "")

    def format(self, timestamp: float) -> str:
        second = int(timestamp)
        cached = self._cached
        if cached[0] != second:
            cached = self._cached = (second, time.strftime("%Y-%m-%dT%H:%M:%S",
                                                           time.gmtime(second)))
        return f"{cached[1]}.{int((timestamp - second) * 1_000_000):06d}Z"


clock = Clock()


class JSONFormatter(logging.Formatter):
    """One JSON object per record: ``component`` is the logger's name; an exception's
    traceback is the ``error`` field; ``request_id`` is set inside a request."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict = {"component": record.name}
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["error"] = redact(record.exc_text)
        entry["level"] = _LEVEL_NAMES.get(record.levelno) or record.levelname.lower()
        entry["msg"] = redact(record.getMessage())
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        entry["time"] = clock.format(record.created)
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


class StderrJSONHandler(logging.StreamHandler):
    """JSON lines to whatever ``sys.stderr`` is when a record is written (gunicorn's error log
    goes there too), so a replaced stderr (a test's capture) never leaves it writing to a
    closed stream."""

    def __init__(self):
        super().__init__()
        self.setFormatter(JSONFormatter())

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class LogFile:
    """GOTRUE_LOG_FILE: a file JSON lines are appended to, as GoTrue's log goes to it (created
    with mode 0660 like GoTrue's). Each line is one write() on a descriptor opened with
    O_APPEND, so the lines of every thread and every worker process land whole, one after
    another."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o660)
        except OSError as exc:
            raise OSError(f"GOTRUE_LOG_FILE: cannot open {path!r} for appending: "
                          f"{exc.strerror}") from None

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            data = data[os.write(self.fd, data):]

    def flush(self) -> None:
        pass  # nothing is buffered


_log_files: dict[str, LogFile] = {}


def log_file(path: str) -> LogFile:
    """The process's LogFile for ``path`` (opened once, however many apps are built)."""
    opened = _log_files.get(path)
    if opened is None:
        opened = _log_files[path] = LogFile(path)
    return opened


class FileJSONHandler(logging.Handler):
    """JSON lines appended to GOTRUE_LOG_FILE instead of stderr."""

    def __init__(self, path: str):
        super().__init__()
        self.file = log_file(path)
        self.setFormatter(JSONFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.file.write(self.format(record) + "\n")
        except Exception:  # a log line must never fail the caller
            self.handleError(record)


def _writes_to(handler: logging.Handler, path: str) -> bool:
    if isinstance(handler, FileJSONHandler):
        return handler.file.path == path
    return isinstance(handler, StderrJSONHandler) and not path


def configure(level: int, path: str = "") -> None:
    """Application records as JSON lines on stderr, or appended to the file ``path``
    (GOTRUE_LOG_FILE), from ``level`` up for ``gotrue_web``.

    Process-wide and idempotent (every app built in the process calls it; the last call says
    where records go). The handler sits on the root logger: records of ``gotrue_web`` reach it
    (and test tools that listen there) by propagation, and third-party warnings, which Python
    would print as plain text, come out as JSON too. The root logger's own level (warning) is
    left alone.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers
            if isinstance(handler, (StderrJSONHandler, FileJSONHandler))]
    if not any(_writes_to(handler, path) for handler in ours):
        root.addHandler(FileJSONHandler(path) if path else StderrJSONHandler())
    for handler in ours:
        if not _writes_to(handler, path):
            root.removeHandler(handler)
    logging.getLogger("gotrue_web").setLevel(level)


# Start-up warnings already logged by this process (or by the gunicorn master it was forked
# from, which reviews the configuration first).
_warned: set[str] = set()
CONFIGURATION_LOGGER = "gotrue_web.configuration"


def warn_once(messages: Iterable[str]) -> None:
    """Log each message as a warning, unless this process has logged it already."""
    log = logging.getLogger(CONFIGURATION_LOGGER)
    for message in messages:
        if message not in _warned:
            _warned.add(message)
            log.warning(message)
