"""GET /admin/audit: the audit log for an admin token. Parity: GoTrue internal/api/audit.go.

A JSON array of entries, newest first, paged like GET /admin/users (page, per_page,
X-Total-Count and Link). ``query`` is GoTrue's "author:", "action:" or "type:" filter; see
services/admin/audit_log.py. A read: no commit and no audit entry.
"""

from __future__ import annotations

from flask import request

from ..serializers import audit_entry_json
from ..services.admin import audit_log
from .errors import json_response
from .params import link_header, page_param, refuse_nul


def list_entries():
    query = request.args.get("query", "")
    refuse_nul(query, "query")
    page = audit_log.list_entries(page=page_param("page", 1),
                                  per_page=page_param("per_page", 50), query=query)
    return json_response([audit_entry_json(entry) for entry in page.entries], headers={
        "X-Total-Count": str(page.total),
        "Link": link_header(page.page, page.per_page, page.total)})
