"""What an audit entry says, in words: "banned for 7 days: chargeback" rather than GoTrue's
``user_modified`` with the difference in its traits; and the kinds of event the audit log can
be filtered by ("Bans", "Metadata edits", ...), each an action plus what its traits hold.

The entries keep GoTrue's action codes (the admin API and existing tools read them); the words
are the console's reading of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from ....durations import parse_go_duration
from ....services import audit

# A ban at least this long reads as permanent (the console's "Permanently" is 100 years).
_PERMANENT = timedelta(days=365 * 50)
# Traits shown as the entry's target or summary already, left out of its details.
SUMMARISED_TRAITS = frozenset({"user_id", "user_email", "user_phone", "ban_duration",
                               "ban_reason", "change", "email_type", "soft",
                               "operator_email", "operator_role", "previous_role",
                               "refused_action", "required_role",
                               "setting", "old_value", "new_value", "reverted",
                               "entity_id", "client_name"})

_PLAIN = {
    "login": "signed in",
    "logout": "signed out",
    "invite_accepted": "accepted an invitation",
    "identity_unlinked": "sign-in method unlinked",
    "user_signedup": "signed up",
    "user_invited": "invited",
    "token_revoked": "refresh token revoked",
    "token_refreshed": "session refreshed",
    "user_reauthenticate_requested": "reauthentication code requested",
    "user_confirmation_requested": "confirmation email requested",
    "user_repeated_signup": "signed up again with a taken address",
    "user_updated_password": "password changed by the user",
    "factor_in_progress": "MFA factor enrolment started",
    "factor_unenrolled": "MFA factor removed by the user",
    "challenge_created": "MFA challenge created",
    "verification_attempted": "MFA code tried",
    "factor_deleted": "MFA factor removed",
    "factor_updated": "MFA factor changed",
    "mfa_code_login": "signed in with an MFA code",
    "passkey_created": "passkey added",
    "passkey_updated": "passkey renamed",
    "passkey_deleted": "passkey removed",
    "operator_login": "operator signed in",
    "operator_login_failed": "operator sign-in failed",
    "operator_logout": "operator signed out",
    "operator_totp_enabled": "operator two-step sign-in turned on",
    "operator_totp_disabled": "operator two-step sign-in turned off",
    "operator_password_changed": "operator password changed",
    "email_template_updated": "email template saved",
    "email_template_reset": "email template reset to the default",
    "email_template_test_sent": "test email sent",
    "smtp_test_sent": "SMTP test sent",
    "sms_test_sent": "test SMS sent",
    "hook_test_sent": "hook test event sent",
    "users_exported": "users exported",
    "rate_limit_reset": "rate limit reset",
    "account_unlocked": "wrong-password lock lifted",
    "configuration_changed": "configuration changed",
}
# Operators managed by owners: "{email}" is the operator acted on (traits.operator_email).
_OPERATOR_ADMIN = {
    "operator_invited": "operator {email} invited as {role}",
    "operator_invite_renewed": "new invitation link for operator {email}",
    "operator_invite_accepted": "operator {email} chose a password (invitation accepted)",
    "operator_role_changed": "operator {email} changed from {previous} to {role}",
    "operator_disabled": "operator {email} disabled",
    "operator_enabled": "operator {email} enabled again",
    "operator_totp_reset": "two-step sign-in reset for operator {email}",
    "operator_deleted": "operator {email} deleted",
}
_CHANGES = {
    "email_confirmed": "email confirmed by hand",
    "phone_confirmed": "phone confirmed by hand",
    "password": "password set by an operator",
    "user_metadata": "user metadata edited",
    "app_metadata": "app metadata edited",
}


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def readable_duration(text: str) -> str:
    """``168h`` as "7 days", ``90m`` as "90 minutes"; a duration that is not a whole number of
    days, hours or minutes stays as written."""
    try:
        duration = parse_go_duration(text)
    except (ValueError, OverflowError):
        return text
    seconds = int(duration.total_seconds())
    if duration >= _PERMANENT:
        return "permanently"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            return _plural(seconds // size, unit)
    return text


def _ban(traits: dict) -> str:
    duration = str(traits.get("ban_duration", ""))
    try:
        lifted = duration == "none" or parse_go_duration(duration) <= timedelta(0)
    except (ValueError, OverflowError):
        lifted = False
    if lifted:
        return "ban lifted"
    length = readable_duration(duration)
    text = "banned permanently" if length == "permanently" else f"banned for {length}"
    if traits.get("ban_reason"):
        text += f": {traits['ban_reason']}"
    return text


# A bulk run's start (console/bulk_actions.py): what it does, in the words of its menu.
_BULK = {"ban": "ban", "unban": "unban", "sign_out": "sign out", "delete": "delete",
         "resend_confirmation": "resend the confirmation email to",
         "resend_invite": "resend the invitation to"}


def _bulk(traits: dict) -> str:
    what = _BULK.get(str(traits.get("bulk_action", "")), str(traits.get("bulk_action", "?")))
    count = traits.get("users", "?")
    text = f"bulk action started: {what} {count} user{'' if count == 1 else 's'}"
    if traits.get("duration"):
        length = readable_duration(str(traits["duration"]))
        text += " permanently" if length == "permanently" else f" for {length}"
    return text


def _configuration(traits: dict) -> str:
    """"GOTRUE_RATE_LIMIT_OTP changed from 30 to 5", or its revert to the environment."""
    name = traits.get("variable") or traits.get("setting") or "a setting"
    old, new = traits.get("old_value", "?"), traits.get("new_value", "?")
    if traits.get("reverted"):
        return f"{name} reverted to the environment's value: {old} → {new}"
    return f"{name} changed from {old} to {new}"


# An SSO identity provider's change (console/sign_in_methods/sso.py), by traits.change.
_SSO_CHANGES = {"created": "added", "updated": "edited", "disabled": "disabled",
                "enabled": "enabled again", "deleted": "deleted"}


def _sso_provider(traits: dict) -> str:
    """"SSO identity provider https://idp.example.com edited: domains, NameID format"."""
    change = str(traits.get("change", ""))
    text = (f"SSO identity provider {traits.get('entity_id', '?')} "
            f"{_SSO_CHANGES.get(change, change or 'changed')}")
    changed = traits.get("changed")
    if change == "updated" and isinstance(changed, list) and changed:
        text += ": " + ", ".join("NameID format" if name == "name_id_format"
                                 else str(name).replace("_", " ") for name in changed)
    return text


# An OAuth app's change (console/apps/apps_page.py), by traits.change.
_OAUTH_CLIENT_CHANGES = {"created": "registered", "secret_regenerated": "given a new secret",
                         "disabled": "disabled", "enabled": "enabled again",
                         "deleted": "deleted"}


def _oauth_client(traits: dict) -> str:
    """"OAuth app Acme CRM disabled" (the client_id when it has no name)."""
    change = str(traits.get("change", ""))
    name = traits.get("client_name") or traits.get("oauth_client_id", "?")
    return f"OAuth app {name} {_OAUTH_CLIENT_CHANGES.get(change, change or 'changed')}"


def summary(action: str, traits: dict) -> str:
    """One line saying what the entry records."""
    if action in _OPERATOR_ADMIN:
        return _OPERATOR_ADMIN[action].format(
            email=traits.get("operator_email", "?"), role=traits.get("operator_role", "?"),
            previous=traits.get("previous_role", "?"))
    if action == "operator_action_refused":
        what = str(traits.get("refused_action", "?")).removeprefix("console.").replace("_", " ")
        return (f"refused to a {traits.get('operator_role', '?')}: {what} "
                f"(needs {traits.get('required_role', '?')})")
    if action == "users_bulk_action":
        return _bulk(traits)
    if action == "configuration_changed":
        return _configuration(traits)
    if action == "sso_provider_changed":
        return _sso_provider(traits)
    if action == "oauth_client_changed":
        return _oauth_client(traits)
    if action == "token_revoked" and traits.get("action") == "revoke_oauth_grant":
        return "an app's access revoked (OAuth grant)"
    if action == "user_modified":
        if "ban_duration" in traits:
            return _ban(traits)
        if traits.get("invite_revoked"):
            return "invitation revoked"
        return _CHANGES.get(str(traits.get("change", "")), "user changed")
    if action == "user_deleted":
        return "user soft-deleted" if traits.get("soft") else "user deleted"
    if action == "user_recovery_requested":
        return ("magic link requested" if traits.get("email_type") == "magiclink"
                else "password recovery requested")
    if action in ("login", "user_signedup") and traits.get("provider"):
        return f"{_PLAIN[action]} with {traits['provider']}"
    return _PLAIN.get(action, action.replace("_", " "))


def details(traits: dict) -> list[tuple[str, str]]:
    """The traits the summary and the target column do not show already, as text pairs."""
    shown = []
    for name in sorted(traits):
        if name in SUMMARISED_TRAITS:
            continue
        value = traits[name]
        shown.append((name.replace("_", " "), value if isinstance(value, str) else
                      json.dumps(value, ensure_ascii=False, sort_keys=True)))
    return shown


# --- filters by what happened --------------------------------------------------------------------


@dataclass(frozen=True)
class Happening:
    key: str
    label: str
    action: str
    # The change trait's values this kind covers (None: any entry of the action).
    changes: tuple[str, ...] | None = None
    # For bans: True for a ban, False for a lifted one.
    ban: bool | None = None


HAPPENINGS = (
    Happening("bans", "Bans", "user_modified", ban=True),
    Happening("unbans", "Bans lifted", "user_modified", ban=False),
    Happening("metadata", "Metadata edits", "user_modified",
              changes=("user_metadata", "app_metadata")),
    Happening("confirmations", "Confirmed by hand", "user_modified",
              changes=("email_confirmed", "phone_confirmed")),
    Happening("passwords", "Passwords set by an operator", "user_modified",
              changes=("password",)),
    Happening("deletions", "Deletions", "user_deleted"),
    Happening("signups", "Sign-ups", "user_signedup"),
    Happening("signins", "Sign-ins", "login"),
    Happening("recoveries", "Recovery and magic-link requests", "user_recovery_requested"),
    Happening("invites", "Invitations", "user_invited"),
    Happening("mfa", "MFA factors removed", "factor_deleted"),
    Happening("configuration", "Configuration changes", "configuration_changed"),
    Happening("sso", "SSO identity provider changes", "sso_provider_changed"),
    Happening("apps", "OAuth app changes", "oauth_client_changed"),
)
HAPPENING_KEYS = {happening.key: happening for happening in HAPPENINGS}


def happening_conditions(key: str) -> list:
    """The WHERE conditions of one kind of event; KeyError for an unknown key."""
    happening = HAPPENING_KEYS[key]
    conditions = [audit.payload_field("action") == happening.action]
    if happening.changes is not None:
        conditions.append(audit.payload_field("traits", "change").in_(happening.changes))
    if happening.ban is not None:
        ban = audit.payload_field("traits", "ban_duration")
        conditions.append(ban.is_not(None))
        conditions.append(ban != "none" if happening.ban else ban == "none")
    return conditions
