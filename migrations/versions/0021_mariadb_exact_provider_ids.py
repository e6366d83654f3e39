"""MariaDB: identities.provider_id compared with letter case (binary collation).

The column had the table's case-insensitive collation, so on MariaDB an identity id in other
letter case (an Ethereum address in its checksum spelling, an OAuth subject or SAML NameID
that differs only in case) found, or collided with, another account's identity, where
PostgreSQL and SQLite tell them apart as GoTrue does. The unique key on (provider_id,
provider) follows the column's collation. No data changes: rows that differ only in case could
not exist under the old collation. A downgrade fails if such rows were written since.

Revision ID: 0021_mariadb_exact_provider_ids
Revises: 0020_mariadb_search_text
Create Date: 2026-12-06
"""

from alembic import op
from sqlalchemy.dialects import mysql

revision = "0021_mariadb_exact_provider_ids"
down_revision = "0020_mariadb_search_text"
branch_labels = None
depends_on = None


def _provider_id(collation: str | None) -> None:
    op.alter_column("identities", "provider_id", existing_nullable=False,
                    type_=mysql.VARCHAR(255, collation=collation),
                    existing_type=mysql.VARCHAR(255))


def upgrade():
    if op.get_bind().dialect.name == "mysql":
        _provider_id("utf8mb4_bin")


def downgrade():
    if op.get_bind().dialect.name == "mysql":
        _provider_id("utf8mb4_unicode_ci")
