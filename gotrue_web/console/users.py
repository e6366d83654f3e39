"""Users: the searchable, filterable list (keyset pagination) and its CSV / JSON export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    g,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from ..extensions import db
from ..models import Factor
from ..runtime import current_runtime
from ..serializers import factor_json, user_json
from ..services import audit
from .auth import client_ip
from .htmx import is_htmx, wants_fragment
from .operations import operators, user_search
from .operations.user_search import InvalidSearch, PageRequest, UserFilters

PAGE = "console/users/index.html"
TABLE = "console/users/_table.html"


def _wants_table() -> bool:
    # A history restore (back button after hx-push-url) replaces the whole body: it needs the
    # page even though htmx marks it as an htmx request.
    return wants_fragment() and request.headers.get("HX-History-Restore-Request") != "true"


def _render(status: int = 200, **context):
    context.setdefault("error", None)
    context.setdefault("result", None)
    context.setdefault("total", None)
    context.setdefault("filters", UserFilters())
    context.update(section="users", form=request.args, states=user_search.STATES,
                   mfa_choices=user_search.MFA_CHOICES, sorts=user_search.SORTS,
                   providers=user_search.KNOWN_PROVIDERS, now=current_runtime().now(),
                   page_url=_page_url)
    table_only = _wants_table()
    response = make_response(render_template(TABLE if table_only else PAGE, **context), status)
    response.vary.add("HX-Request")
    if table_only and status == 200:
        # The address bar shows the view without empty fields, so it bookmarks cleanly.
        response.headers["HX-Push-Url"] = _canonical_url(context["filters"], context["result"])
    return response


_PAGE_ARGS = ("sort", "per_page", "count", "after", "before")


def _page_url(filters: UserFilters, **extra) -> str:
    """The list's URL for these filters; ``extra`` (page, sort, count) in a fixed order."""
    args = filters.to_args()
    args.update({key: extra[key] for key in _PAGE_ARGS if extra.get(key)})
    return url_for("console.users", **args)


def _canonical_url(filters: UserFilters, result) -> str:
    args = request.args
    extra = {"per_page": args.get("per_page"),
             "count": "all" if args.get("count") == "all" else None}
    if result is not None and not result.is_first:
        # A "previous" link that reached the start shows the first page: no cursor then.
        extra.update(after=args.get("after"), before=args.get("before"))
    return _page_url(filters, **extra)


def users(**_kwargs):
    rt = current_runtime()
    now = rt.now()
    try:
        filters = UserFilters.from_args(request.args)
        page = PageRequest.from_args(request.args, filters.sort_spec)
    except InvalidSearch as error:
        # 422 so that htmx swaps the message in; a plain request is simply a bad one.
        return _render(422 if _wants_table() else 400, error=str(error))

    result = user_search.find_page(filters, page, now)
    exact = filters.exact_user_id
    if exact is not None and result.rows and page.after is None and page.before is None:
        # A whole user id goes straight to that user.
        target = url_for("console.detail", user_id=str(exact))
        if is_htmx():
            response = make_response("", 204)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, 303)

    exact_count = request.args.get("count") == "all"
    total = user_search.count(filters, now, cap=None if exact_count else user_search.COUNT_CAP)
    return _render(filters=filters, result=result, total=total,
                   per_page=request.args.get("per_page", ""), exact_count=exact_count)


# --- export ---------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id", "email", "phone", "name", "providers", "states", "created_at", "last_sign_in_at",
    "email_confirmed_at", "phone_confirmed_at", "invited_at", "banned_until", "deleted_at",
    "is_anonymous", "has_mfa", "aud", "role", "user_metadata", "app_metadata",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _time(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value is not None else ""


def _name(user) -> str:
    metadata = user.raw_user_meta_data or {}
    name = metadata.get("full_name") or metadata.get("name") or ""
    return name if isinstance(name, str) else ""


def _csv_stream(filters: UserFilters, now) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield take()
    for batch in user_search.iter_batches(filters, now):
        for row in batch:
            user = row.user
            writer.writerow([_safe_cell(value) for value in (
                str(user.id), user.email or "", user.phone or "", _name(user),
                " ".join(row.providers), " ".join(label for label, _ in row.states(now)),
                _time(user.created_at), _time(user.last_sign_in_at),
                _time(user.email_confirmed_at), _time(user.phone_confirmed_at),
                _time(user.invited_at), _time(user.banned_until), _time(user.deleted_at),
                "true" if user.is_anonymous else "false", "true" if row.has_mfa else "false",
                user.aud or "", user.role or "",
                json.dumps(user.raw_user_meta_data or {}, sort_keys=True),
                json.dumps(user.raw_app_meta_data or {}, sort_keys=True),
            )])
        yield take()


def _export_object(user, factors: list[Factor]) -> dict:
    """GoTrue's user object without identities (factors where GoTrue puts them)."""
    data = {}
    for key, value in user_json(user, in_list=True).items():
        if key == "identities":
            if factors:
                data["factors"] = [factor_json(factor) for factor in factors]
            continue
        data[key] = value
    return data


def _json_stream(filters: UserFilters, now) -> Iterator[str]:
    yield "["
    first = True
    for batch in user_search.iter_batches(filters, now):
        ids = [row.user.id for row in batch]
        factors: dict = {}
        for factor in db.session.execute(
                sa.select(Factor).where(Factor.user_id.in_(ids))
                .order_by(Factor.created_at)).scalars():
            factors.setdefault(factor.user_id, []).append(factor)
            db.session.expunge(factor)
        chunk = []
        for row in batch:
            chunk.append(("\n" if first else ",\n")
                         + json.dumps(_export_object(row.user, factors.get(row.user.id, []))))
            first = False
        yield "".join(chunk)
    yield "\n]\n" if not first else "]\n"


EXPORTS = {
    "csv": ("text/csv; charset=utf-8", _csv_stream),
    "json": ("application/json", _json_stream),
}


def export(fmt: str, **_kwargs):
    if fmt not in EXPORTS:
        abort(404)
    rt = current_runtime()
    now = rt.now()
    try:
        filters = UserFilters.from_args(request.args)
    except InvalidSearch as error:
        abort(400, str(error))
    audit.record("users_exported", operators.actor_of(g.operator), now=now, ip=client_ip(),
                 traits={"format": fmt, "filters": user_search.describe(filters)})
    db.session.commit()
    mimetype, stream = EXPORTS[fmt]
    response = Response(stream_with_context(stream(filters, now)), content_type=mimetype)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    response.headers["Content-Disposition"] = f'attachment; filename="users-{stamp}.{fmt}"'
    return response

