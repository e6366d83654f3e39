"""The auth schema as SQLAlchemy models: columns, relationships and predicates; no commits."""

from .audit_log import AuditLogEntry
from .flow_state import CodeChallengeMethod, FlowState
from .hook import HookDelivery
from .identity import Identity
from .mail import EmailTemplate, MailLogEntry, SMSLogEntry
from .mail_outbox import MailOutboxRow
from .mfa import AMRClaim, Challenge, Factor, FactorStatus, FactorType
from .oauth_provider import CustomOAuthProvider, OAuthClientState
from .oauth_server import (AuthorizationStatus, ClientType, OAuthAuthorization, OAuthClient,
                           OAuthConsent, RegistrationType)
from .one_time_token import OneTimeToken, OneTimeTokenType
from .operator import ConsoleLock, Operator, OperatorSignInAttempt, RuntimeSetting
from .session import AAL, RefreshToken, Session
from .sso import SAMLProvider, SAMLRelayState, SSODomain, SSOProvider
from .user import User
from .webauthn import WebAuthnChallenge, WebAuthnCredential

# Registers the console's search indexes on the tables (imported for that effect).
from . import search_indexes  # noqa: E402,F401  isort: skip
from . import overview_indexes  # noqa: E402,F401  isort: skip

__all__ = [
    "AAL", "AMRClaim", "AuditLogEntry", "AuthorizationStatus", "ClientType", "Challenge",
    "CodeChallengeMethod", "CustomOAuthProvider",
    "EmailTemplate",
    "Factor", "HookDelivery", "MailLogEntry", "MailOutboxRow",
    "FactorStatus", "FactorType", "FlowState", "Identity", "OAuthAuthorization", "OAuthClient",
    "OAuthClientState", "OAuthConsent", "RegistrationType", "OneTimeToken",
    "OneTimeTokenType",
    "ConsoleLock", "Operator", "OperatorSignInAttempt", "RuntimeSetting", "SMSLogEntry",
    "RefreshToken", "SAMLProvider", "SAMLRelayState", "SSODomain", "SSOProvider", "Session",
    "User", "WebAuthnChallenge", "WebAuthnCredential",
]
