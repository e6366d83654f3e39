"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi db upgrade``."""

from gotrue_web import create_app

app = create_app()
