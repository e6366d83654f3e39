#!/usr/bin/env bash
# Benchmark gotrue-web's hot paths against a bare Flask floor on its own gunicorn (bench/README.md).
#   bench/run.sh                                   SQLite in a scratch folder
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres bench/run.sh
#   bench/run.sh --help                            options (duration, connections, profiles...)
# Exit status: 0 aims met, 1 the run failed (errors, non-2xx answers), 2 an aim was missed.
source "$(dirname "$0")/../bin/_venv.sh"
ensure_venv "test"
exec "$VENV/bin/python" "$ROOT/bench/run.py" "$@"
