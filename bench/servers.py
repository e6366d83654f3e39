"""The two gunicorns of a benchmark run: the project's and the floor's.

The project's is started exactly as a deployment starts it (``gunicorn wsgi:app`` with
gunicorn.conf.py). The floor's serves bench/floor_app.py with the settings that file gives the
project (worker class, workers, threads, keep-alive, timeouts, access log), read from it and
passed on the command line, so the two differ only in the app they serve. GUNICORN_CMD_ARGS
applies to both.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from seed import ROOT, BenchFailure

GUNICORN = Path(sys.executable).with_name("gunicorn")
CONFIG = ROOT / "gunicorn.conf.py"
# gunicorn.conf.py setting -> command-line flag, copied to the floor's gunicorn.
_COPIED = (("worker_class", "--worker-class"), ("workers", "--workers"),
           ("threads", "--threads"), ("keepalive", "--keep-alive"), ("timeout", "--timeout"),
           ("graceful_timeout", "--graceful-timeout"), ("worker_tmp_dir", "--worker-tmp-dir"),
           ("access_log_format", "--access-logformat"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def project_settings(env: dict, workdir: Path) -> dict:
    """The settings gunicorn.conf.py gives the project's gunicorn under ``env``."""
    names = [name for name, _ in _COPIED] + ["accesslog", "control_socket_disable"]
    script = ("import json, runpy, sys; ns = runpy.run_path(sys.argv[1]); "
              f"print(json.dumps({{k: ns.get(k) for k in {names!r}}}))")
    result = subprocess.run([sys.executable, "-c", script, str(CONFIG)], cwd=workdir, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchFailure("cannot read gunicorn.conf.py:\n" + result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def floor_command(settings: dict, port: int) -> list[str]:
    command = [str(GUNICORN), "--bind", f"127.0.0.1:{port}"]
    for name, flag in _COPIED:
        if settings.get(name) is not None:
            command += [flag, str(settings[name])]
    # One access line per request on each side: gunicorn's own when gunicorn.conf.py keeps it
    # on, else (the project's app writes a JSON line per request on stdout) gunicorn's plain
    # access log on stdout.
    command += ["--access-logfile", settings.get("accesslog") or "-"]
    if settings.get("control_socket_disable"):
        command.append("--no-control-socket")
    command += ["--error-logfile", "-"]
    # gunicorn ranks the command line above GUNICORN_CMD_ARGS: appended, the caller's
    # overrides win for the floor as they do for the project.
    command += shlex.split(os.environ.get("GUNICORN_CMD_ARGS", ""))
    return command + ["floor_app:app"]


_DATABASE_SERVERS = {"postgres", "mariadbd", "mysqld"}


def _cpu_seconds(stat: Path) -> tuple[str, float] | None:
    """A process's name and CPU time (user + system) so far, from its /proc/<pid>/stat;
    None when it has gone."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    name, _, rest = text.partition(" (")[2].rpartition(")")
    fields = rest.split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_server_cpu_seconds() -> float:
    """CPU time used so far by the PostgreSQL or MariaDB server processes of this machine
    (with the database on the same cores, its work per request is part of the cost: 0 on
    SQLite, or for a server elsewhere)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        used = _cpu_seconds(stat)
        if used is not None and used[0] in _DATABASE_SERVERS:
            total += used[1]
    return total


class Server:
    def __init__(self, name: str, command: list[str], env: dict, workdir: Path, port: int):
        self.name = name
        self.port = port
        self.log_path = workdir / f"gunicorn-{name}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)

    @classmethod
    def project(cls, env: dict, workdir: Path, port: int) -> Server:
        return cls("project", [str(GUNICORN), "--config", str(CONFIG), "wsgi:app"], env,
                   workdir, port)

    @classmethod
    def floor(cls, settings: dict, env: dict, workdir: Path, port: int) -> Server:
        floor_env = {k: v for k, v in env.items() if k != "GUNICORN_CMD_ARGS"}
        return cls("floor", floor_command(settings, port), floor_env, workdir, port)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def error_log(self, lines: int = 25) -> str:
        """The end of gunicorn's output without access-log or request lines: tracebacks and
        warnings."""
        access = re.compile(r'^\S+ \[\d\d/\w{3}/\d{4}:|^\{.*"msg":"request completed"')
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join([line for line in text if not access.match(line)][-lines:])

    def wait_ready(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure(f"{self.name} gunicorn exited at start-up:\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2):
                    pass
                if len(self.worker_pids()) >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchFailure(f"{self.name} gunicorn did not answer {path} in time:\n"
                           + self.log_tail())

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def cpu_by_process(self) -> dict[int, float]:
        """CPU time (user + system) used so far by the master and by each worker, by pid.

        Divided by the requests served, it is the cost of a request, which other load on the
        machine does not change the way it changes req/s.
        """
        seconds = {}
        for pid in [self.process.pid, *self.worker_pids()]:
            used = _cpu_seconds(Path(f"/proc/{pid}/stat"))
            if used is not None:
                seconds[pid] = used[1]
        return seconds

    def worker_rss_mb(self) -> dict[int, float]:
        """Each worker's resident memory (VmRSS), in MB."""
        found = {}
        for pid in self.worker_pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            if match:
                found[pid] = int(match.group(1)) / 1024
        return found

    def description(self) -> str:
        text = self.log_path.read_text(errors="replace")
        worker = re.search(r"Using worker: ([\w.:]+)", text)
        booted = len(re.findall(r"Booting worker with pid", text))
        return f"{worker.group(1) if worker else '?'} worker, {booted} workers booted"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
