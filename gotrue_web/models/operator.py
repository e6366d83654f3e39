"""Console operators: the people who run the user base. Not end users; their own table."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    # Base32 TOTP secret; set while enrolling, used once totp_enabled is true.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false())
    # Bumped to end every console session of the operator (password reset, deletion).
    session_version: Mapped[int] = mapped_column(
        sa.Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The newest 30-second TOTP step accepted from this operator: a code of that step or an
    # earlier one is refused, so a code seen over a shoulder or in a log cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # owner, admin, support or viewer (console/roles.py says what each may do). Operators
    # that existed before roles are owners: they could do everything.
    role: Mapped[str] = mapped_column(
        sa.String(16), nullable=False, default="owner", server_default="owner")
    # Set while the operator may not sign in (disabled by an owner); their sessions end.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorSignInAttempt(Base):
    """A console sign-in (or password re-check) that got past the throttle: counted as failed
    from the moment it is let through, marked succeeded when the credentials check out."""

    __tablename__ = "operator_sign_in_attempts"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # The address as typed, in lookup form (unknown addresses are counted too).
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    ip_address: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    succeeded: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false())

    __table_args__ = (
        sa.Index("operator_sign_in_attempts_email_created_at_idx", "email", "created_at"),
        sa.Index("operator_sign_in_attempts_ip_address_created_at_idx", "ip_address",
                 "created_at"),
    )


class ConsoleLock(Base):
    """Named rows that console actions lock (SELECT ... FOR UPDATE) to run one at a time
    across every worker and server: the sign-in throttle counts and records under one."""

    __tablename__ = "console_locks"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class RuntimeSetting(Base):
    """A setting changed from the console while the server runs: it wins over the
    environment's value until removed. ``value`` is JSON."""

    __tablename__ = "runtime_settings"

    name: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The operator's email at the time (operators can be deleted; the audit log has the rest).
    updated_by: Mapped[str] = mapped_column(sa.String(255), nullable=False)
