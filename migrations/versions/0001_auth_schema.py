"""The auth schema: users, identities, sessions, refresh tokens, MFA, flow state, one-time
tokens and the audit log, with GoTrue's table and column names.

Revision ID: 0001_auth_schema
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0001_auth_schema"
down_revision = None
branch_labels = None
depends_on = None


def _dialect() -> str:
    return op.get_bind().dialect.name


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def timestamp():
    return {"mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def jsonb():
    return postgresql.JSONB() if _dialect() == "postgresql" else sa.JSON()


def inet():
    return postgresql.INET() if _dialect() == "postgresql" else sa.String(64)


def indexed_text():
    return sa.String(255) if _dialect() == "mysql" else sa.Text()


def enum(name: str, *values: str):
    return sa.Enum(*values, name=name)


def partial_unique(name: str, table: str, columns: list[str], where: str) -> None:
    """A unique index over rows matching ``where``; MariaDB has no partial indexes."""
    if _dialect() in ("postgresql", "sqlite"):
        op.create_index(name, table, columns, unique=True,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


TOKEN_COLUMNS = ("confirmation_token", "recovery_token", "email_change_token_new",
                 "email_change_token_current", "phone_change_token", "reauthentication_token")

CONFIRMED_AT = (
    "CASE WHEN email_confirmed_at IS NULL THEN phone_confirmed_at "
    "WHEN phone_confirmed_at IS NULL THEN email_confirmed_at "
    "WHEN email_confirmed_at < phone_confirmed_at THEN email_confirmed_at "
    "ELSE phone_confirmed_at END"
)


def upgrade():
    false = sa.false()
    op.create_table(
        "users",
        sa.Column("instance_id", sa.Uuid()),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("aud", sa.String(255)),
        sa.Column("role", sa.String(255)),
        sa.Column("email", sa.String(255)),
        sa.Column("encrypted_password", sa.String(255)),
        sa.Column("email_confirmed_at", timestamptz()),
        sa.Column("invited_at", timestamptz()),
        sa.Column("confirmation_token", sa.String(255), server_default=""),
        sa.Column("confirmation_sent_at", timestamptz()),
        sa.Column("recovery_token", sa.String(255), server_default=""),
        sa.Column("recovery_sent_at", timestamptz()),
        sa.Column("email_change_token_new", sa.String(255), server_default=""),
        sa.Column("email_change", sa.String(255), server_default=""),
        sa.Column("email_change_sent_at", timestamptz()),
        sa.Column("last_sign_in_at", timestamptz()),
        sa.Column("raw_app_meta_data", jsonb()),
        sa.Column("raw_user_meta_data", jsonb()),
        sa.Column("is_super_admin", sa.Boolean()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("phone", indexed_text()),
        sa.Column("phone_confirmed_at", timestamptz()),
        sa.Column("phone_change", sa.Text(), server_default=""),
        sa.Column("phone_change_token", sa.String(255), server_default=""),
        sa.Column("phone_change_sent_at", timestamptz()),
        sa.Column("confirmed_at", timestamptz(), sa.Computed(CONFIRMED_AT, persisted=True)),
        sa.Column("email_change_token_current", sa.String(255), server_default=""),
        sa.Column("email_change_confirm_status", sa.SmallInteger(), server_default="0"),
        sa.Column("banned_until", timestamptz()),
        sa.Column("reauthentication_token", sa.String(255), server_default=""),
        sa.Column("reauthentication_sent_at", timestamptz()),
        sa.Column("is_sso_user", sa.Boolean(), server_default=false, nullable=False),
        sa.Column("deleted_at", timestamptz()),
        sa.Column("is_anonymous", sa.Boolean(), server_default=false, nullable=False),
        sa.CheckConstraint(
            "email_change_confirm_status >= 0 AND email_change_confirm_status <= 2",
            name="users_email_change_confirm_status_check"),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        sa.UniqueConstraint("phone", name="users_phone_key"),
    )
    op.create_index("users_instance_id_idx", "users", ["instance_id"])
    op.create_index("users_is_anonymous_idx", "users", ["is_anonymous"])
    if _dialect() == "mysql":
        op.create_index("users_email_key", "users", ["email"], unique=True)
    else:
        partial_unique("users_email_partial_key", "users", ["email"],
                       "is_sso_user = false" if _dialect() == "postgresql" else "is_sso_user = 0")
    for column in TOKEN_COLUMNS:
        partial_unique(f"{column}_idx", "users", [column], f"{column} <> ''")

    op.create_table(
        "identities",
        sa.Column("provider_id", indexed_text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("identity_data", jsonb(), nullable=False),
        sa.Column("provider", indexed_text(), nullable=False),
        sa.Column("last_sign_in_at", timestamptz()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("email", indexed_text()),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="identities_user_id_fkey",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="identities_pkey"),
        sa.UniqueConstraint("provider_id", "provider",
                            name="identities_provider_id_provider_unique"),
    )
    op.create_index("identities_email_idx", "identities", ["email"])
    op.create_index("identities_user_id_idx", "identities", ["user_id"])

    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("factor_id", sa.Uuid()),
        sa.Column("aal", enum("aal_level", "aal1", "aal2", "aal3")),
        sa.Column("not_after", timestamptz()),
        sa.Column("refreshed_at", timestamp()),
        sa.Column("user_agent", sa.Text()),
        sa.Column("ip", inet()),
        sa.Column("tag", sa.Text()),
        sa.Column("oauth_client_id", sa.Uuid()),
        sa.Column("refresh_token_hmac_key", sa.Text()),
        sa.Column("refresh_token_counter", sa.BigInteger()),
        sa.Column("scopes", sa.Text()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="sessions_user_id_fkey",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="sessions_pkey"),
    )
    op.create_index("sessions_not_after_idx", "sessions", ["not_after"])
    op.create_index("sessions_updated_at_idx", "sessions", ["updated_at"])
    op.create_index("sessions_user_id_created_at_idx", "sessions", ["user_id", "created_at"])
    op.create_index("sessions_user_id_idx", "sessions", ["user_id"])

    op.create_table(
        "refresh_tokens",
        sa.Column("instance_id", sa.Uuid()),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("token", sa.String(255)),
        sa.Column("user_id", sa.String(255)),
        sa.Column("revoked", sa.Boolean()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("parent", sa.String(255)),
        sa.Column("session_id", sa.Uuid()),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"],
                                name="refresh_tokens_session_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="refresh_tokens_pkey"),
        sa.UniqueConstraint("token", name="refresh_tokens_token_key"),
    )
    op.create_index("refresh_tokens_instance_id_idx", "refresh_tokens", ["instance_id"])
    op.create_index("refresh_tokens_instance_id_user_id_idx", "refresh_tokens",
                    ["instance_id", "user_id"])
    op.create_index("refresh_tokens_parent_idx", "refresh_tokens", ["parent"])
    op.create_index("refresh_tokens_session_id_revoked_idx", "refresh_tokens",
                    ["session_id", "revoked"])
    op.create_index("refresh_tokens_updated_at_idx", "refresh_tokens", ["updated_at"])

    op.create_table(
        "mfa_factors",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("friendly_name", indexed_text()),
        sa.Column("factor_type", enum("factor_type", "totp", "webauthn", "phone"),
                  nullable=False),
        sa.Column("status", enum("factor_status", "unverified", "verified"), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("phone", indexed_text()),
        sa.Column("last_challenged_at", timestamptz()),
        sa.Column("web_authn_credential", jsonb()),
        sa.Column("web_authn_aaguid", sa.Uuid()),
        sa.Column("last_webauthn_challenge_data", jsonb()),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="mfa_factors_user_id_fkey",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="mfa_factors_pkey"),
        sa.UniqueConstraint("last_challenged_at", name="mfa_factors_last_challenged_at_key"),
        sa.UniqueConstraint("user_id", "phone", name="unique_phone_factor_per_user"),
    )
    op.create_index("mfa_factors_user_id_idx", "mfa_factors", ["user_id"])
    partial_unique("mfa_factors_user_friendly_name_unique", "mfa_factors",
                   ["friendly_name", "user_id"], "trim(friendly_name) <> ''")

    op.create_table(
        "mfa_challenges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("factor_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("verified_at", timestamptz()),
        sa.Column("ip_address", inet(), nullable=False),
        sa.Column("otp_code", sa.Text()),
        sa.Column("web_authn_session_data", jsonb()),
        sa.ForeignKeyConstraint(["factor_id"], ["mfa_factors.id"],
                                name="mfa_challenges_factor_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="mfa_challenges_pkey"),
    )
    op.create_index("mfa_challenges_factor_id_idx", "mfa_challenges", ["factor_id"])

    op.create_table(
        "mfa_amr_claims",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", timestamptz(), nullable=False),
        sa.Column("updated_at", timestamptz(), nullable=False),
        sa.Column("authentication_method", indexed_text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"],
                                name="mfa_amr_claims_session_id_fkey", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="mfa_amr_claims_pkey"),
        sa.UniqueConstraint("session_id", "authentication_method",
                            name="mfa_amr_claims_session_id_authentication_method_pkey"),
    )

    op.create_table(
        "flow_state",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid()),
        sa.Column("auth_code", indexed_text(), nullable=False),
        sa.Column("code_challenge_method", enum("code_challenge_method", "s256", "plain"),
                  nullable=False),
        sa.Column("code_challenge", sa.Text(), nullable=False),
        sa.Column("provider_type", sa.Text(), nullable=False),
        sa.Column("provider_access_token", sa.Text()),
        sa.Column("provider_refresh_token", sa.Text()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("authentication_method", indexed_text(), nullable=False),
        sa.Column("auth_code_issued_at", timestamptz()),
        sa.Column("invite_token", sa.Text()),
        sa.Column("referrer", sa.Text()),
        sa.Column("oauth_client_state_id", sa.Uuid()),
        sa.Column("linking_target_id", sa.Uuid()),
        sa.Column("email_optional", sa.Boolean(), server_default=false, nullable=False),
        sa.PrimaryKeyConstraint("id", name="flow_state_pkey"),
    )
    op.create_index("flow_state_auth_code_idx", "flow_state", ["auth_code"])
    op.create_index("flow_state_created_at_idx", "flow_state", ["created_at"])
    op.create_index("idx_user_id_auth_method", "flow_state", ["user_id", "authentication_method"])

    checks = []
    if _dialect() == "sqlite":
        checks.append(sa.CheckConstraint("length(token_hash) > 0",
                                         name="one_time_tokens_token_hash_length_check"))
    else:
        checks.append(sa.CheckConstraint("char_length(token_hash) > 0",
                                         name="one_time_tokens_token_hash_check"))
    op.create_table(
        "one_time_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_type", enum(
            "one_time_token_type", "confirmation_token", "reauthentication_token",
            "recovery_token", "email_change_token_new", "email_change_token_current",
            "phone_change_token"), nullable=False),
        sa.Column("token_hash", indexed_text(), nullable=False),
        sa.Column("relates_to", indexed_text(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        *checks,
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="one_time_tokens_user_id_fkey",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="one_time_tokens_pkey"),
        sa.UniqueConstraint("user_id", "token_type",
                            name="one_time_tokens_user_id_token_type_key"),
    )
    op.create_index("one_time_tokens_token_hash_hash_idx", "one_time_tokens", ["token_hash"],
                    postgresql_using="hash")
    op.create_index("one_time_tokens_relates_to_hash_idx", "one_time_tokens", ["relates_to"],
                    postgresql_using="hash")

    op.create_table(
        "audit_log_entries",
        sa.Column("instance_id", sa.Uuid()),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("payload", sa.JSON()),
        sa.Column("created_at", timestamptz()),
        sa.Column("ip_address", sa.String(64), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name="audit_log_entries_pkey"),
    )
    op.create_index("audit_log_entries_instance_id_idx", "audit_log_entries", ["instance_id"])
    op.create_index("audit_log_entries_created_at_idx", "audit_log_entries", ["created_at"])


def downgrade():
    for table in ("audit_log_entries", "one_time_tokens", "flow_state", "mfa_amr_claims",
                  "mfa_challenges", "mfa_factors", "refresh_tokens", "sessions", "identities",
                  "users"):
        op.drop_table(table)
    if _dialect() == "postgresql":
        for name in ("one_time_token_type", "code_challenge_method", "factor_status",
                     "factor_type", "aal_level"):
            op.execute(sa.text(f"DROP TYPE IF EXISTS {name}"))
