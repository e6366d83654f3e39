"""The console's "send a test event": a sample event for one hook, sent through the same
services.hooks.invoke as real calls (test=True marks its delivery row), and its outcome.

The sample is made up: a user that is not in the database (serializers.user_json of an
unsaved User), codes and tokens that open nothing. A PostgreSQL-function hook runs on a
connection of its own (in_transaction=False), so a failing function cannot roll back the
console's request. Every test is audited ("hook_test_sent") with the hook, the URI as shown
and the outcome; the delivery row is written after the request by services.hooks.log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ....errors import ErrorCode, GoTrueError, bad_request
from ....models import HookDelivery, User
from ....runtime import Runtime
from ....serializers import user_json
from ....services import audit, hooks
from ....services.hooks import log as hook_log
from ....settings import HOOK_NAMES

SAMPLE_EMAIL = "hook-test@example.com"
SAMPLE_PHONE = "15550100000"
SAMPLE_CODE = "123456"
# GoTrue's zero time, as the before_user_created hook sees an unsaved user's timestamps.
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class HookTestResult:
    hook: str
    ok: bool
    # The hook's output object (None when it gave none: a 204 or NULL).
    output: dict | None
    # What a client would have been told when the hook failed.
    error: str = ""
    error_status: int | None = None
    error_code: str = ""
    # The delivery row this test wrote (written after the request).
    delivery: HookDelivery | None = None


def sample_user(rt: Runtime, user_id: uuid.UUID) -> dict:
    """The user object of a made-up, confirmed email user (never saved)."""
    now = rt.now()
    user = User(id=user_id, aud=rt.settings.jwt.aud, role="authenticated",
                email=SAMPLE_EMAIL, phone="", email_confirmed_at=now, created_at=now,
                updated_at=now, last_sign_in_at=now, is_anonymous=False, is_sso_user=False,
                raw_app_meta_data={"provider": "email", "providers": ["email"]},
                raw_user_meta_data={"full_name": "Hook Test"})
    data = user_json(user)
    data["identities"] = []
    return data


def _claims(rt: Runtime, user: dict) -> dict:
    issued = int(rt.now().timestamp())
    claims = {"iss": rt.settings.jwt.issuer} if rt.settings.jwt.issuer else {}
    return {
        **claims, "sub": user["id"], "aud": rt.settings.jwt.aud, "exp": issued + 3600,
        "iat": issued,
        "email": user["email"], "phone": "", "app_metadata": user["app_metadata"],
        "user_metadata": user["user_metadata"], "role": "authenticated", "aal": "aal1",
        "amr": [{"method": "password", "timestamp": issued}],
        "session_id": str(uuid.uuid4()), "is_anonymous": False,
    }


def sample_payload(rt: Runtime, name: str) -> dict:
    """The event body after ``metadata`` for hook ``name`` (phone-sms.md 4.4 shapes)."""
    user_id = uuid.uuid4()
    user = sample_user(rt, user_id)
    if name == "send_email":
        return {"user": user, "email_data": {
            "token": SAMPLE_CODE, "token_hash": "pkce_" + uuid.uuid4().hex,
            "redirect_to": rt.settings.site_url, "email_action_type": "signup",
            "site_url": rt.settings.site_url, "token_new": "", "token_hash_new": "",
            "old_email": "", "old_phone": "", "provider": "", "factor_type": ""}}
    if name == "send_sms":
        return {"user": {**user, "phone": SAMPLE_PHONE},
                "sms": {"otp": SAMPLE_CODE, "phone": SAMPLE_PHONE}}
    if name == "custom_access_token":
        return {"user_id": str(user_id), "claims": _claims(rt, user),
                "authentication_method": "password"}
    if name == "mfa_verification_attempt":
        return {"user_id": str(user_id), "factor_id": str(uuid.uuid4()),
                "factor_type": "totp", "valid": True}
    if name == "password_verification_attempt":
        return {"user_id": str(user_id), "valid": True}
    if name == "before_user_created":
        unsaved = {key: value for key, value in user.items()
                   if key not in ("email_confirmed_at", "confirmed_at", "last_sign_in_at")}
        return {"user": {**unsaved, "role": "", "created_at": ZERO_TIME,
                         "updated_at": ZERO_TIME}}
    if name == "after_user_created":
        return {"user": user}
    raise ValueError(f"unknown hook {name!r}")


def send_test(rt: Runtime, name: str, actor: audit.Actor, *, ip: str = "") -> HookTestResult:
    """Send hook ``name`` a sample event and report what came back.

    ValueError for an unknown hook; 400 validation_failed when it is not enabled. A failing
    hook is an outcome, not an exception: its error is in the result, the delivery row and the
    audit entry (written in the caller's transaction: the caller commits).
    """
    if name not in HOOK_NAMES:
        raise ValueError(f"unknown hook {name!r}")
    config = rt.settings.hooks.get(name)
    if not config.enabled:
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          f"The {name} hook is not enabled "
                          f"(GOTRUE_HOOK_{name.upper()}_ENABLED): nothing was sent.")
    payload = sample_payload(rt, name)
    before = len(hook_log.pending())
    try:
        output = hooks.invoke(rt, name, payload, ip=ip, in_transaction=False, test=True)
        result = HookTestResult(hook=name, ok=True, output=output)
    except GoTrueError as error:
        result = HookTestResult(hook=name, ok=False, output=None, error=error.message,
                                error_status=error.status, error_code=error.error_code)
    written = [entry for entry in hook_log.pending()[before:] if entry.hook == name]
    delivery = written[-1] if written else None
    traits = {"hook": name, "uri": hook_log.shown_uri(config.uri) if config.uri else "",
              "status": hook_log.SUCCEEDED if result.ok else hook_log.FAILED}
    if delivery is not None:
        traits["delivery_id"] = str(delivery.id)
    if not result.ok:
        traits["error"] = result.error[:500]
    audit.record("hook_test_sent", actor, now=rt.now(), ip=ip, traits=traits)
    return HookTestResult(hook=result.hook, ok=result.ok, output=result.output,
                          error=result.error, error_status=result.error_status,
                          error_code=result.error_code, delivery=delivery)
