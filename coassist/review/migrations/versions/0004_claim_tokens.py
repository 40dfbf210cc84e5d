"""Fenced drafting claims (schema version 4): `assignments.claim_token`, a new value with each
claim, which every write made under the claim compares (coassist/review/drafting.py).

The column is nullable and existing rows keep their claims: a claim taken before this revision
has no token, so no write can be made under it, but it still holds its subtasks until its lease
ends (an agent of the older coassist may still be generating them).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
    op.execute("UPDATE coassist_schema SET version = 4")
