"""What every console view knows about its request: the client's address, the signed-in
operator as the audit actor, and the request facts services record."""

from __future__ import annotations

from flask import g, request

from ..runtime import RequestInfo, current_runtime
from ..services.audit import Actor
from .operations import operators


def client_ip() -> str:
    return request.remote_addr or ""


def actor() -> Actor:
    """The signed-in operator, as audit entries name them."""
    return operators.actor_of(g.operator)


def request_info() -> RequestInfo:
    """The console request's facts for the services: the operator's IP and browser, and the
    default audience (users created or invited from the console get GOTRUE_JWT_AUD)."""
    return RequestInfo(ip=client_ip(), user_agent=request.headers.get("User-Agent", "")[:1024],
                       aud=current_runtime().settings.jwt.aud)
