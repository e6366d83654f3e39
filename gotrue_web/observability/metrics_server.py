"""Serving the metrics on GOTRUE_METRICS_PROMETHEUS_LISTEN_HOST:_PORT, as GoTrue serves them on
a port of their own.

One process (``flask run``, tests, ``flask outbox run``): the process serves its own registry
in a thread (``serve_in_process``). A port already taken (a server running next to a CLI
command) is logged, not fatal: metrics must never stop the server or a command.

gunicorn (gunicorn.conf.py, when metrics are on): each worker is a process with its own counts,
so prometheus_client's multiprocess mode adds them up.

- ``prepare_multiprocess`` runs in the master before any worker exists, and before anything
  imports prometheus_client: PROMETHEUS_MULTIPROC_DIR names a fresh private directory (or the
  operator's own, emptied), where every worker keeps its values in memory-mapped files.
- ``serve_from_master`` (when_ready) serves those files, summed, from the master: a scrape
  sees the whole server, whichever worker would have answered it.
- ``worker_exited`` (child_exit) drops a dead worker's gauges that count live processes only
  (pool use); its counters stay in the sums, as counts must never go down.
- ``remove_multiprocess_dir`` (on_exit) removes the directory this module made.

Workers learn they run this way from the flag ``prepare_multiprocess`` sets in the master
(they are forked from it) and then serve nothing themselves.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import threading

log = logging.getLogger(__name__)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Names the directory a master made itself, so that a master started from its environment
# (gunicorn's USR2 upgrade re-executes it) makes its own rather than taking the old one's.
MADE_VARIABLE = "GOTRUE_METRICS_MULTIPROC_DIR_MADE"

# The master's multiprocess directory (inherited by the forked workers); None outside gunicorn.
_multiprocess_dir: str | None = None
_made_here = False
# This process's exporters by (host, port).
_servers: dict[tuple[str, int], object] = {}
_lock = threading.Lock()


def served_by_master() -> bool:
    """Whether this process is a gunicorn worker whose master serves the metrics."""
    return _multiprocess_dir is not None


def serve_in_process(host: str, port: int, registry) -> None:
    """Serve ``registry`` on host:port from a thread of this process, once per address."""
    from prometheus_client import start_http_server

    with _lock:
        if (host, port) in _servers:
            return
        try:
            server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            log.warning("metrics: cannot listen on %s:%d (%s); this process's metrics are not "
                        "served", host, port, exc)
            return
        _servers[(host, port)] = server


def stop_in_process() -> None:
    """Close this process's exporters (tests)."""
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    for server in servers:
        server.shutdown()
        server.server_close()


def prepare_multiprocess() -> str:
    """The master, before any worker: the directory of the workers' values. A reload (HUP)
    keeps the one made at start."""
    global _multiprocess_dir, _made_here
    if _multiprocess_dir is not None:
        return _multiprocess_dir
    chosen = os.environ.get(MULTIPROC_VARIABLE)
    if chosen and chosen != os.environ.get(MADE_VARIABLE):
        # The operator's directory: values of an earlier run would be added to this one's.
        os.makedirs(chosen, mode=0o700, exist_ok=True)
        for stale in glob.glob(os.path.join(chosen, "*.db")):
            os.remove(stale)
        path = chosen
    else:
        path = tempfile.mkdtemp(prefix="gotrue-metrics-")  # mode 0700: this user's only
        _made_here = True
        os.environ[MADE_VARIABLE] = path
    os.environ[MULTIPROC_VARIABLE] = path
    _multiprocess_dir = path
    return path


def serve_from_master(host: str, port: int) -> None:
    """when_ready: serve the sum of every worker's values from the master."""
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=_multiprocess_dir)
    try:
        server, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error("metrics: cannot listen on %s:%d (%s); metrics are not served", host, port,
                  exc)
        return
    _servers[(host, port)] = server


def worker_exited(pid: int) -> None:
    """child_exit: the dead worker's live-only gauges leave the sums."""
    if _multiprocess_dir is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, _multiprocess_dir)


def remove_multiprocess_dir() -> None:
    """on_exit: remove the directory prepare_multiprocess made (not an operator's own)."""
    if _multiprocess_dir is not None and _made_here:
        shutil.rmtree(_multiprocess_dir, ignore_errors=True)
