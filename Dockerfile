# gotrue-web: gunicorn serving the API and console as uid 1000; SQLite in /app/instance unless
# DATABASE_URL says otherwise. Migrates the database, then serves on 0.0.0.0:8081.
#
#   docker build -t gotrue-web .
#   docker run -p 8081:8081 -v gotrue-data:/app/instance \
#     -e GOTRUE_SITE_URL=https://app.example.com -e API_EXTERNAL_URL=https://auth.example.com \
#     -e GOTRUE_JWT_SECRET=... gotrue-web
#
# Give `docker stop` more than gunicorn's graceful_timeout (15 s): docker stop -t 20, or
# stop_grace_period: 20s in compose.
#
# Slow clients: gunicorn.conf.py's worker reads each request whole before a thread serves it
# and drops a client that takes over 10 s to send one, so no proxy is needed in front for that
# (gotrue_web/gunicorn_worker.py).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the dependencies in a virtualenv ---------------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY requirements/runtime.lock ./
# Only the dependencies go into the virtualenv. The code runs from /app as in the repository,
# because gotrue_web finds templates/, static/ and migrations/ next to the package directory
# (a wheel in site-packages would not have them beside it). The lock (bin/lock) pins every
# package, dependencies included, with the hashes of its files: pip refuses anything else, so
# the image holds exactly the versions CI tested. --only-binary: every locked package ships
# wheels for amd64 and arm64, so nothing is built here; pip stays in this stage.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --only-binary :all: -r runtime.lock \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1

# SAML SSO (GOTRUE_SAML_ENABLED): pysaml2 signs and verifies XML with the xmlsec1 program.
RUN apt-get update \
    && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 gotrue \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /app --shell /usr/sbin/nologin gotrue

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY gotrue_web/ gotrue_web/
COPY templates/ templates/
COPY static/ static/
COPY migrations/ migrations/
COPY wsgi.py gunicorn.conf.py ./
# Code stays root-owned and read-only for the server, so it is byte-compiled here; only the
# instance folder (SQLite database) is writable, and it is created with the right owner before
# VOLUME so a new named volume inherits that owner.
RUN python -m compileall -q gotrue_web migrations wsgi.py gunicorn.conf.py \
    && mkdir instance \
    && chown 1000:1000 instance

VOLUME ["/app/instance"]
USER 1000:1000
EXPOSE 8081

# Liveness through the same settings reader as the server, so GOTRUE_API_HOST / GOTRUE_API_PORT /
# PORT changes are followed; a wildcard bind is probed on loopback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from gotrue_web.settings import from_env; api = from_env().api; host = '127.0.0.1' if api.host in ('', '0.0.0.0', '::') else api.host; host = f'[{host}]' if ':' in host else host; urllib.request.urlopen(f'http://{host}:{api.port}/health', timeout=4)"]

# Bring the schema up to date, then hand PID 1 to gunicorn so it receives SIGTERM itself and
# drains in-flight requests (settings in gunicorn.conf.py, picked up from /app).
CMD ["sh", "-c", "flask --app wsgi db upgrade && exec gunicorn wsgi:app"]
