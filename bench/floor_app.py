"""The floor of the benchmark: a bare Flask app with no gotrue-web code in it.

bench/run.py serves it with a gunicorn of its own (same worker class, workers, threads and
logging as gunicorn.conf.py gives the project, passed on the command line) next to the
project's gunicorn:

    GET  /json          {"ok": true}: the cost of Flask + gunicorn per request
    POST /bcrypt/check  one bcrypt cost-10 check of {"password": ...}: the floor of a login
    POST /bcrypt/hash   one bcrypt cost-10 hash of {"password": ...}: the floor of a signup

Imports Flask and bcrypt only. gunicorn loads it as ``floor_app:app``.
"""

from __future__ import annotations

import bcrypt
from flask import Flask, jsonify, request

# The password of every seeded user and of the bcrypt routes (bench/bench_app.py).
PASSWORD = "bench-Password-1"
BCRYPT_COST = 10

app = Flask("bench_floor")
# Same format ($2a$) and cost as the users' hashes: the work per check is identical.
_HASHED = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_COST, prefix=b"2a"))


def _password() -> bytes:
    body = request.get_json(force=True, silent=True) or {}
    return str(body.get("password", "")).encode()


@app.get("/json")
def floor_json():
    return jsonify(ok=True)


@app.post("/bcrypt/check")
def floor_bcrypt_check():
    matches = bcrypt.checkpw(_password(), _HASHED)
    return jsonify(ok=matches), 200 if matches else 400


@app.post("/bcrypt/hash")
def floor_bcrypt_hash():
    hashed = bcrypt.hashpw(_password(), bcrypt.gensalt(BCRYPT_COST, prefix=b"2a"))
    return jsonify(ok=True, length=len(hashed))
