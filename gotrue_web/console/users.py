"""Users: the searchable, filterable list (keyset pagination) and its CSV / JSON export."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from ..extensions import db
from ..runtime import current_runtime
from .context import actor, client_ip
from .htmx import is_htmx, wants_fragment
from .operations import user_export, user_search
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

    result = user_search.find_page(filters, page, now, rt.settings.sessions)
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


def export(fmt: str, **_kwargs):
    if fmt not in user_export.EXPORTS:
        abort(404)
    rt = current_runtime()
    now = rt.now()
    try:
        filters = UserFilters.from_args(request.args)
    except InvalidSearch as error:
        abort(400, str(error))
    mimetype, stream = user_export.start(rt, fmt, filters, actor(), client_ip())
    db.session.commit()
    response = Response(stream_with_context(stream()), content_type=mimetype)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    response.headers["Content-Disposition"] = f'attachment; filename="users-{stamp}.{fmt}"'
    return response

