"""SAML 2.0 SSO: sso_providers, sso_domains, saml_providers and saml_relay_states (GoTrue's
tables, spec oauth-sso.md section 5), and SSO users allowed to share an email on MariaDB.

GoTrue's unique indexes on lower(resource_id) and lower(domain) are expression indexes on
PostgreSQL and SQLite. MariaDB has no expression or partial indexes, so there each indexed value
is a stored generated column (binary collation: the lower-cased text itself is compared) with a
unique index of GoTrue's name. The same way, users_email_key (unique among all users) becomes
users_email_partial_key on a column that is NULL for SSO users, as the partial index elsewhere.
The DDL is spelled out here rather than read from gotrue_web.models.sso, so this revision keeps
its meaning if the models change.

Revision ID: 0016_sso_saml
Revises: 0015_console_overview
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0016_sso_saml"
down_revision = "0015_console_overview"
branch_labels = None
depends_on = None

# MariaDB: table -> (generated column, its SQL, unique index).
_MARIADB_KEYS = {
    "sso_providers": ("resource_id_lower",
                      "VARCHAR(768) COLLATE utf8mb4_bin "
                      "GENERATED ALWAYS AS (LOWER(resource_id)) STORED",
                      "sso_providers_resource_id_idx"),
    "sso_domains": ("domain_lower",
                    "VARCHAR(768) COLLATE utf8mb4_bin GENERATED ALWAYS AS (LOWER(domain)) STORED",
                    "sso_domains_domain_idx"),
}
# The users column keeps the email column's collation, as users_email_key had.
_MARIADB_USERS_KEY = ("email_non_sso",
                      "VARCHAR(255) GENERATED ALWAYS AS "
                      "(CASE WHEN is_sso_user THEN NULL ELSE email END) STORED",
                      "users_email_partial_key")


def _dialect() -> str:
    return op.get_bind().dialect.name


def timestamptz():
    return {"postgresql": postgresql.TIMESTAMP(timezone=True),
            "mysql": mysql.DATETIME(fsp=6)}.get(_dialect(), sa.DateTime())


def jsonb():
    return postgresql.JSONB() if _dialect() == "postgresql" else sa.JSON()


def indexed_text():
    return sa.String(255) if _dialect() == "mysql" else sa.Text()


def long_text():
    return mysql.MEDIUMTEXT() if _dialect() == "mysql" else sa.Text()


def _case_insensitive_unique(table: str, column: str) -> None:
    if _dialect() == "mysql":
        generated, definition, index = _MARIADB_KEYS[table]
        op.execute(f"ALTER TABLE {table} ADD COLUMN {generated} {definition}")
        op.create_index(index, table, [generated], unique=True)
    else:
        op.create_index(f"{table}_{column}_idx", table, [sa.text(f"lower({column})")],
                        unique=True)


def upgrade():
    op.create_table(
        "sso_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resource_id", sa.Text()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("disabled", sa.Boolean()),
        sa.CheckConstraint("resource_id IS NULL OR resource_id <> ''",
                           name="sso_providers_resource_id_not_empty_check"),
        sa.PrimaryKeyConstraint("id", name="sso_providers_pkey"),
    )
    _case_insensitive_unique("sso_providers", "resource_id")

    op.create_table(
        "sso_domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sso_provider_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.CheckConstraint("domain <> ''", name="sso_domains_domain_not_empty_check"),
        sa.ForeignKeyConstraint(["sso_provider_id"], ["sso_providers.id"], ondelete="CASCADE",
                                name="sso_domains_sso_provider_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="sso_domains_pkey"),
    )
    op.create_index("sso_domains_sso_provider_id_idx", "sso_domains", ["sso_provider_id"])
    _case_insensitive_unique("sso_domains", "domain")

    op.create_table(
        "saml_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sso_provider_id", sa.Uuid(), nullable=False),
        sa.Column("entity_id", indexed_text(), nullable=False),
        sa.Column("metadata_xml", long_text(), nullable=False),
        sa.Column("metadata_url", sa.Text()),
        sa.Column("attribute_mapping", jsonb()),
        sa.Column("name_id_format", sa.Text()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.CheckConstraint("metadata_xml <> ''",
                           name="saml_providers_metadata_xml_not_empty_check"),
        sa.CheckConstraint("metadata_url IS NULL OR metadata_url <> ''",
                           name="saml_providers_metadata_url_not_empty_check"),
        sa.CheckConstraint("entity_id <> ''", name="saml_providers_entity_id_not_empty_check"),
        sa.ForeignKeyConstraint(["sso_provider_id"], ["sso_providers.id"], ondelete="CASCADE",
                                name="saml_providers_sso_provider_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="saml_providers_pkey"),
        sa.UniqueConstraint("entity_id", name="saml_providers_entity_id_key"),
    )
    op.create_index("saml_providers_sso_provider_id_idx", "saml_providers", ["sso_provider_id"])

    op.create_table(
        "saml_relay_states",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sso_provider_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("for_email", indexed_text()),
        sa.Column("redirect_to", sa.Text()),
        sa.Column("created_at", timestamptz()),
        sa.Column("updated_at", timestamptz()),
        sa.Column("flow_state_id", sa.Uuid()),
        sa.CheckConstraint("request_id <> ''", name="saml_relay_states_request_id_not_empty_check"),
        sa.ForeignKeyConstraint(["sso_provider_id"], ["sso_providers.id"], ondelete="CASCADE",
                                name="saml_relay_states_sso_provider_id_fkey"),
        sa.ForeignKeyConstraint(["flow_state_id"], ["flow_state.id"], ondelete="CASCADE",
                                name="saml_relay_states_flow_state_id_fkey"),
        sa.PrimaryKeyConstraint("id", name="saml_relay_states_pkey"),
    )
    op.create_index("saml_relay_states_sso_provider_id_idx", "saml_relay_states",
                    ["sso_provider_id"])
    op.create_index("saml_relay_states_for_email_idx", "saml_relay_states", ["for_email"])
    op.create_index("saml_relay_states_created_at_idx", "saml_relay_states", ["created_at"])

    if _dialect() == "mysql":
        column, definition, index = _MARIADB_USERS_KEY
        op.execute(f"ALTER TABLE users ADD COLUMN {column} {definition}")
        op.create_index(index, "users", [column], unique=True)
        op.drop_index("users_email_key", table_name="users")


def downgrade():
    if _dialect() == "mysql":
        # Refused while an SSO user shares an email with another user, as it must be.
        op.create_index("users_email_key", "users", ["email"], unique=True)
        column, _, index = _MARIADB_USERS_KEY
        op.drop_index(index, table_name="users")
        op.drop_column("users", column)
    op.drop_table("saml_relay_states")
    op.drop_table("saml_providers")
    op.drop_table("sso_domains")
    op.drop_table("sso_providers")
