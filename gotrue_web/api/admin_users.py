"""The admin users API. Parity: GoTrue internal/api/admin.go."""

from __future__ import annotations

from flask import request

from ..extensions import db
from ..runtime import current_runtime
from ..serializers import factor_json, user_json
from ..services import users
from ..services.admin import users as admin_users
from .errors import json_response
from .guards import admin_actor
from .params import Body, json_body, link_header, page_param, refuse_nul, request_info


def list_users():
    aud = request_info().aud
    filter_text = request.args.get("filter", "")
    refuse_nul(filter_text, "filter")
    refuse_nul(aud, "X-JWT-AUD")
    page = admin_users.list_users(
        aud=aud, page=page_param("page", 1), per_page=page_param("per_page", 50),
        filter_text=filter_text, sort=request.args.getlist("sort"),
    )
    body = {"users": [user_json(user, in_list=True) for user in page.users], "aud": aud}
    return json_response(body, headers={
        "X-Total-Count": str(page.total),
        "Link": link_header(page.page, page.per_page, page.total)})


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


def update_factor(user_id: str, factor_id: str):
    user = admin_users.load(user_id)
    factor = admin_users.load_factor(user, factor_id)
    body = json_body()
    admin_users.update_factor(current_runtime(), user, factor, admin_actor(), request_info(),
                              friendly_name=body.str("friendly_name"), phone=body.str("phone"))
    payload = factor_json(factor)
    db.session.commit()
    return json_response(payload)
