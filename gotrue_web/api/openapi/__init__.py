"""GET /openapi.json: the OpenAPI 3.1 description of the JSON API.

The description is data, in document/ beside this module: base.json (info, servers, tags,
security schemes), components/<section>.json (schemas, responses, parameters, headers: each file
is one section of ``components``) and paths/<family>.json (the routes of one family). They are
assembled into one document once, when the API is imported at start-up, and every request gets
the same bytes. tests/openapi/ checks the document against the URL map and the real answers.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import current_app

DOCUMENT_DIR = Path(__file__).resolve().parent / "document"


def _read(path: Path) -> dict:
    with path.open(encoding="utf-8") as file:
        data = json.load(file)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _merge(target: dict, part: dict, source: Path) -> None:
    """Add ``part``'s keys to ``target``; a key defined twice is a mistake in the files."""
    for key, value in part.items():
        if key in target:
            raise ValueError(f"{source}: {key!r} is already defined in another file")
        target[key] = value


def load_document(directory: Path = DOCUMENT_DIR) -> dict:
    """The whole document, assembled from the files under ``directory``."""
    document = _read(directory / "base.json")
    components = document.setdefault("components", {})
    for path in sorted((directory / "components").glob("*.json")):
        _merge(components.setdefault(path.stem, {}), _read(path), path)
    paths = document.setdefault("paths", {})
    for path in sorted((directory / "paths").glob("*.json")):
        _merge(paths, _read(path), path)
    return document


DOCUMENT = load_document()
_BODY = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def document():
    response = current_app.response_class(_BODY, mimetype="application/json")
    # The same bytes for the life of the process.
    response.headers["Cache-Control"] = "public, max-age=600"
    return response
