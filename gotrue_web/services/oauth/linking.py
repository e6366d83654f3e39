"""Which user an external identity signs in: automatic linking and invites via OAuth.

Spec oauth-sso.md 1.4 (GoTrue models/linking.go) and 1.5. A verified email links to the account
that already has it in the same linking domain; an unverified one never does.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...errors import (ErrorCode, bad_request, forbidden, internal, not_found,
                       unprocessable)
from ...extensions import db
from ...models import Identity, User
from ...runtime import RequestInfo, Runtime
from .. import audit, users
from ..hooks import legacy as legacy_webhook
from ..mail import flows as mail_flows
from ..mail import notifications
from .base import ProviderEmail
from .flow import invited_user

DEFAULT_DOMAIN = "default"
ACCOUNT_EXISTS, CREATE_ACCOUNT, LINK_ACCOUNT = "AccountExists", "CreateAccount", "LinkAccount"


@dataclass(frozen=True)
class SignIn:
    """What the callback knows about the person at the provider."""

    provider: str
    subject: str
    identity_data: dict
    emails: list[ProviderEmail]
    aud: str
    email_optional: bool
    # Where a confirmation email's link leads, and whether it is a PKCE flow.
    referrer: str
    pkce: bool
    # More traits of the "login" audit entry than the provider (web3: chain, address, ...).
    login_traits: dict | None = None


@dataclass
class Decision:
    kind: str
    user: User | None = None
    identity: Identity | None = None
    candidate: ProviderEmail | None = None


def linking_domain(rt: Runtime, provider: str) -> str:
    if provider.startswith("sso:"):
        return provider
    return rt.settings.external.linking_domains.get(provider, DEFAULT_DOMAIN)


def _candidate(emails: list[ProviderEmail]) -> ProviderEmail | None:
    primaries = [e for e in emails if e.primary]
    if not primaries:
        return None
    last = primaries[-1]
    return ProviderEmail(last.email.lower(), last.verified, True)


def decide(rt: Runtime, sign_in: SignIn) -> Decision:
    autoconfirm = rt.settings.mailer.autoconfirm
    candidate = _candidate(sign_in.emails)
    identity = db.session.execute(
        sa.select(Identity).where(Identity.provider_id == sign_in.subject,
                                  Identity.provider == sign_in.provider)
    ).scalar_one_or_none()
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        kept = candidate.verified if candidate else False
        return Decision(ACCOUNT_EXISTS, user, identity,
                        ProviderEmail((user.email or "") if user else "", kept, True))
    domain = linking_domain(rt, sign_in.provider)
    verified = sorted({e.email.lower() for e in sign_in.emails if e.verified or autoconfirm})
    if not verified:
        if candidate and domain == DEFAULT_DOMAIN and _email_taken(rt, candidate.email,
                                                                    sign_in.aud):
            candidate = None
        return Decision(CREATE_ACCOUNT, candidate=candidate)
    found = [i for i in db.session.execute(
        sa.select(Identity).where(Identity.email.in_(verified))).scalars()
        if linking_domain(rt, i.provider) == domain]
    if not found:
        if domain != DEFAULT_DOMAIN:
            return Decision(CREATE_ACCOUNT, candidate=candidate)
        owners = list(db.session.execute(
            sa.select(User).where(sa.func.lower(User.email).in_(verified),
                                  User.is_sso_user.is_(False))).scalars())
        if len(owners) == 1:
            return Decision(LINK_ACCOUNT, owners[0], candidate=candidate)
        if len(owners) > 1:
            raise internal("Multiple accounts with the same email address in the same linking "
                           f"domain detected: {domain}")
        return Decision(CREATE_ACCOUNT, candidate=candidate)
    if len({i.user_id for i in found}) > 1:
        raise internal("Multiple accounts with the same email address in the same linking "
                       f"domain detected: {domain}")
    return Decision(LINK_ACCOUNT, db.session.get(User, found[0].user_id), candidate=candidate)


def _email_taken(rt: Runtime, email: str, aud: str) -> bool:
    by_identity = db.session.execute(
        sa.select(Identity.provider).join(User, User.id == Identity.user_id)
        .where(Identity.email == email, User.aud == aud)).scalars()
    if any(linking_domain(rt, p) == DEFAULT_DOMAIN for p in by_identity):
        return True
    return db.session.execute(
        sa.select(User.id).where(sa.func.lower(User.email) == email, User.aud == aud).limit(1)
    ).first() is not None


def sign_in_user(rt: Runtime, sign_in: SignIn, info: RequestInfo) -> User:
    """Apply the linking decision and the confirmation rules; the user to start a session for."""
    decision = decide(rt, sign_in)
    now = rt.now()
    data = sign_in.identity_data
    if decision.kind == CREATE_ACCOUNT:
        if rt.settings.disable_signup:
            raise unprocessable(ErrorCode.SIGNUP_DISABLED, "Signups not allowed for this instance")
        candidate = decision.candidate
        # before_user_created runs here, after the DISABLE_SIGNUP check, as in GoTrue.
        user = users.new_user(rt, aud=sign_in.aud, email=candidate.email if candidate else None,
                              user_metadata=data, providers=(sign_in.provider,), ip=info.ip)
        user.is_sso_user = linking_domain(rt, sign_in.provider) != DEFAULT_DOMAIN
        _insert_new_user()
        identity = users.add_identity(rt, user, sign_in.provider, sign_in.subject, data)
        rt.metrics.sign_up("oauth", sign_in.provider)
    elif decision.kind == LINK_ACCOUNT:
        user = decision.user
        identity = users.add_identity(rt, user, sign_in.provider, sign_in.subject, data)
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data, data)
        users.sync_providers(user)
        audit.record("identity_linked", audit.Actor.of_user(user), now=now, ip=info.ip,
                     traits={"provider": sign_in.provider})
    else:
        user, identity = decision.user, decision.identity
        identity.set_data(data)
        identity.updated_at = now
        user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data, data)
        users.sync_providers(user)
    if user.is_banned(now):
        raise forbidden(ErrorCode.USER_BANNED, "User is banned")
    if decision.kind == LINK_ACCOUNT and user.is_email_confirmed:
        # An account someone owns gained a sign-in method: its owner hears of it (an
        # unconfirmed one is taken over by the provider below, not joined).
        notifications.notify(rt, user, "identity_linked", provider=sign_in.provider)
    candidate = decision.candidate
    # The legacy webhook hears "signup" when this sign-in confirms the user, "login" when the
    # user was confirmed already (GoTrue sends neither for an unverified sign-in).
    was_confirmed = user.is_email_confirmed
    emails_apply = not (sign_in.email_optional and not (candidate and candidate.email))
    if emails_apply and not user.is_email_confirmed:
        _remove_unconfirmed_identities(user, identity)
        if (candidate and candidate.verified) or rt.settings.mailer.autoconfirm:
            audit.record("user_signedup", audit.Actor.of_user(user), now=now, ip=info.ip,
                         traits={"provider": sign_in.provider})
            legacy_webhook.trigger(rt, "signup", user)
            users.confirm_email(rt, user)
        else:
            if candidate and candidate.email and user.email:
                mail_flows.send_confirmation(rt, user, sign_in.referrer, pkce=sign_in.pkce,
                                             after_response=True)
            if not rt.settings.external.allow_unverified_email_sign_ins:
                raise _needs_verification(sign_in.provider, bool(candidate and candidate.email))
            return user
    audit.record("login", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"provider": sign_in.provider, **(sign_in.login_traits or {})})
    if was_confirmed:
        legacy_webhook.trigger(rt, "login", user)
    return user


def _insert_new_user() -> None:
    """Flush the new user. Its email is unique among non-SSO users (models/user.py; on MariaDB
    through a generated column): a second non-SSO account with an address is refused here."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except sa.exc.IntegrityError as exc:
        raise unprocessable(ErrorCode.EMAIL_EXISTS,
                            "A user with this email address has already been registered",
                            cause=exc) from exc


def _needs_verification(provider: str, mailed: bool):
    if mailed:
        message = (f"Unverified email with {provider}. A confirmation email has been sent to "
                   f"your {provider} email")
    else:
        message = (f"Unverified email with {provider}. Verify the email with {provider} in "
                   "order to sign in")
    error = unprocessable(ErrorCode.PROVIDER_EMAIL_NEEDS_VERIFICATION, message)
    # The new account and its confirmation email stay: the user finishes by confirming.
    error.commit_first = True
    return error


def _remove_unconfirmed_identities(user: User, kept: Identity) -> None:
    """An unconfirmed account taken over by a provider: whoever started it by email loses it."""
    if kept.provider not in ("email", "phone"):
        user.encrypted_password = ""
    user.raw_user_meta_data = dict(kept.identity_data or {})
    for identity in list(user.identities):
        if identity is not kept:
            user.identities.remove(identity)
            db.session.delete(identity)
    users.sync_providers(user)


def accept_invite(rt: Runtime, sign_in: SignIn, invite_token: str, info: RequestInfo) -> User:
    """Spec 1.5: the invited user signs up through the provider (DISABLE_SIGNUP not checked)."""
    user = invited_user(invite_token)
    if user is None:
        raise not_found(ErrorCode.INVITE_NOT_FOUND, "Invite not found")
    if not any(e.email == user.email for e in sign_in.emails):
        raise bad_request(ErrorCode.VALIDATION_FAILED,
                          "Invited email does not match emails from external provider")
    now = rt.now()
    identity = users.add_identity(rt, user, sign_in.provider, sign_in.subject,
                                  sign_in.identity_data)
    user.raw_app_meta_data = {**user.app_metadata, "provider": sign_in.provider}
    users.sync_providers(user)
    user.raw_user_meta_data = users.merge_metadata(user.raw_user_meta_data,
                                                   sign_in.identity_data)
    audit.record("invite_accepted", audit.Actor.of_user(user), now=now, ip=info.ip,
                 traits={"provider": sign_in.provider})
    _remove_unconfirmed_identities(user, identity)
    legacy_webhook.trigger(rt, "signup", user)
    users.confirm_email(rt, user)
    return user
