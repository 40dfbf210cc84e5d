"""The scheduling agent (schema version 3): agents and their heartbeats, plan versions with
their diffs, the team's hours, skills and costs, and when a person started a work item.

Every new column is nullable or has a server default, so a version-2 database keeps its rows;
its plans have no team hours and so cannot be re-planned until imported again with them. On
PostgreSQL a trigger on ``audit`` notifies channel ``coassist``, which wakes idle agents.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("makespan", sa.Float(), nullable=True),
        sa.Column("diff", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("plan_id", "version"),
    )
    op.create_index(op.f("ix_plan_versions_plan_id"), "plan_versions", ["plan_id"], unique=False)
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_seconds", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("drafted", sa.Integer(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_agents_plan_id"), "agents", ["plan_id"], unique=False)
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("skills", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("capacity_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cost_per_hour", sa.Float(), nullable=True))
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("replanned_through", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("work_items") as batch:
        batch.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # Every change writes an audit row: one NOTIFY per such transaction wakes the agents
        # (coassist/agent/wakeup.py). SQLite has no notifications; agents poll there.
        op.execute(
            "CREATE FUNCTION coassist_notify() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify('coassist', ''); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER coassist_audit_notify AFTER INSERT ON audit "
            "FOR EACH STATEMENT EXECUTE FUNCTION coassist_notify()"
        )
    op.execute("UPDATE coassist_schema SET version = 3")
