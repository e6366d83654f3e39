"""Indexes the operator console's Overview charts read (a time range, with the series column).

Migration 0015_console_overview creates them; defining them on the tables here keeps the models
and the migrations in step (tests/test_migrations.py compares the two).
"""

import sqlalchemy as sa

from .mail import MailLogEntry, SMSLogEntry
from .mfa import AMRClaim, Challenge

OVERVIEW_INDEXES = (
    # Sign-ins by method: the claim a session starts with.
    sa.Index("mfa_amr_claims_created_at_method_idx", AMRClaim.created_at,
             AMRClaim.authentication_method),
    # Wrong MFA codes, by when the challenge was made.
    sa.Index("mfa_challenges_created_at_idx", Challenge.created_at),
    sa.Index("mail_log_created_at_status_idx", MailLogEntry.created_at, MailLogEntry.status),
    sa.Index("sms_log_created_at_status_idx", SMSLogEntry.created_at, SMSLogEntry.status),
)
