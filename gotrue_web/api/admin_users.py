"""The admin users API. Parity: GoTrue internal/api/admin.go."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import request

from ..errors import ErrorCode, bad_request
from ..extensions import db
from ..runtime import current_runtime
from ..serializers import factor_json, user_json
from ..services import users
from ..services.admin import users as admin_users
from .errors import json_response
from .guards import admin_actor
from .params import Body, json_body, request_info

# Bounds that keep LIMIT/OFFSET inside a 64-bit integer on every database.
_MAX_PAGINATION_VALUE = 2**31 - 1


def _pagination_value(name: str, default: int) -> int:
    """page / per_page: a positive integer, empty means the default; else 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= _MAX_PAGINATION_VALUE:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"Bad Pagination Parameters: {name} must be a positive integer")
    return int(raw)


def _link_header(page: admin_users.UserPage) -> str:
    """GoTrue's Link header: the request path and query with ``page`` replaced, keys sorted.

    ``next`` only when more users follow; ``last`` always.
    """
    query = {key: values for key, values in request.args.lists()}

    def link(page_number: int, rel: str) -> str:
        query["page"] = [str(page_number)]
        return f'<{request.path}?{urlencode(sorted(query.items()), doseq=True)}>; rel="{rel}"'

    links = []
    if page.total > page.page * page.per_page:
        links.append(link(page.page + 1, "next"))
    links.append(link(page.last_page, "last"))
    return ", ".join(links)


def _check_query_text(value: str, where: str) -> None:
    """Refuse NUL characters, which PostgreSQL cannot take as a query parameter."""
    if "\x00" in value:
        raise bad_request(ErrorCode.VALIDATION_FAILED, f"{where} must not contain NUL")


def list_users():
    aud = request_info().aud
    filter_text = request.args.get("filter", "")
    _check_query_text(filter_text, "filter")
    _check_query_text(aud, "X-JWT-AUD")
    page = admin_users.list_users(
        aud=aud, page=_pagination_value("page", 1),
        per_page=_pagination_value("per_page", 50),
        filter_text=filter_text, sort=request.args.getlist("sort"),
    )
    body = {"users": [user_json(user, in_list=True) for user in page.users], "aud": aud}
    return json_response(body, headers={
        "X-Total-Count": str(page.total), "Link": _link_header(page)})


def _params(body: Body) -> admin_users.AdminUserParams:
    optional_str = body.optional_str
    return admin_users.AdminUserParams(
        email=optional_str("email"), phone=optional_str("phone"),
        password=optional_str("password"), password_hash=optional_str("password_hash"),
        email_confirm=body.bool("email_confirm"), phone_confirm=body.bool("phone_confirm"),
        user_metadata=body.object("user_metadata"), app_metadata=body.object("app_metadata"),
        role=optional_str("role"), id=optional_str("id"), aud=optional_str("aud"),
        # An empty value means no change, as in GoTrue.
        ban_duration=users.parse_ban_duration(ban) if (ban := body.str("ban_duration")) else None,
    )


def create_user():
    params = _params(json_body())
    user = admin_users.create_user(current_runtime(), params, admin_actor(), request_info())
    payload = user_json(user)
    db.session.commit()
    return json_response(payload)


def get_user(user_id: str):
    return json_response(user_json(admin_users.load(user_id)))


def update_user(user_id: str):
    user = admin_users.load(user_id)
    params = _params(json_body())
    admin_users.update_user(current_runtime(), user, params, admin_actor(), request_info())
    payload = user_json(user)
    db.session.commit()
    return json_response(payload)


def delete_user(user_id: str):
    user = admin_users.load(user_id)
    body = json_body(optional=True)
    admin_users.delete_user(current_runtime(), user, soft=body.bool("should_soft_delete"),
                            actor=admin_actor(), info=request_info())
    db.session.commit()
    return json_response({})


def list_factors(user_id: str):
    user = admin_users.load(user_id)
    return json_response([factor_json(factor) for factor in user.factors])


def delete_factor(user_id: str, factor_id: str):
    user = admin_users.load(user_id)
    factor = admin_users.load_factor(user, factor_id)
    payload = factor_json(factor)
    admin_users.delete_factor(current_runtime(), user, factor, admin_actor(), request_info())
    db.session.commit()
    return json_response(payload)
