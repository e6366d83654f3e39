# Shared by bin/serve, bin/test, bin/lock and bin/audit: the project virtualenv, installed from
# the lock file (exact versions, hashes checked) and reinstalled when the lock or pyproject.toml
# changes; and a separate virtualenv for the tools that make and check the lock (uv, pip-audit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GOTRUE_WEB_VENV:-$ROOT/.venv}"
TOOLS_VENV="${GOTRUE_WEB_TOOLS_VENV:-$VENV/tools}"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# ensure_venv LOCK: the project venv with requirements/LOCK.lock (runtime or test) installed.
ensure_venv() {
  local lock="$ROOT/requirements/$1.lock"
  local stamp="$VENV/.installed-$1"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    # uv installs (seconds, where pip takes half a minute); it is pinned in tools.lock.
    ensure_tools
    local uv=("$TOOLS_VENV/bin/uv" pip --quiet)
    # Every package, dependencies included, at the locked version and with a matching hash;
    # compiled to bytecode now, as pip would: uv does not by default, and where the environment
    # sets PYTHONDONTWRITEBYTECODE every process (each gunicorn worker of the live tests too)
    # would otherwise compile Flask, SQLAlchemy and the rest from source (~2 s a start).
    "${uv[@]}" install --python "$VENV/bin/python" --require-hashes --compile-bytecode \
      -r "$lock"
    # The project itself, editable; its dependencies are all in the lock already.
    "${uv[@]}" install --python "$VENV/bin/python" --no-deps -e "$ROOT"
    # pyproject.toml names a dependency the lock lacks (or a bound it breaks): say so.
    if ! "${uv[@]}" check --python "$VENV/bin/python" >/dev/null 2>&1; then
      "$TOOLS_VENV/bin/uv" pip check --python "$VENV/bin/python" || true
      echo "requirements/$1.lock does not satisfy pyproject.toml: run bin/lock" >&2
      return 1
    fi
    touch "$stamp"
  fi
}

# ensure_tools: uv and pip-audit at the versions in requirements/tools.lock (pip installs them:
# the one unpinned step is the venv's own pip, which checks every hash).
ensure_tools() {
  local lock="$ROOT/requirements/tools.lock"
  local stamp="$TOOLS_VENV/.installed"
  if [ ! -x "$TOOLS_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$TOOLS_VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
    # --no-deps: the lock already names every package. Resolving again, the venv's pip takes
    # pip-audit's "CacheControl[filecache]>=0.13.0" as a requirement of its own and, once a
    # newer CacheControl than the lock's is out, refuses it as unpinned.
    "$TOOLS_VENV/bin/pip" install --quiet --no-deps --require-hashes -r "$lock"
    touch "$stamp"
  fi
}
