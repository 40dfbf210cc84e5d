"""The review database's tables, as SQLAlchemy 2 ORM classes.

One schema serves SQLite (the default, one file per user) and PostgreSQL (a team's server), so
only portable types are used: JSON for lists and provenance, `DateTime` holding UTC.

A change to a table is an Alembic revision in ``coassist/review/migrations/versions``, which
also bumps `SCHEMA_VERSION` and the ``coassist_schema`` row (see `coassist.review.store`): a
coassist that finds a revision or a number it does not know refuses the database rather than
misreading it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coassist.plan.model import WorkerKind

# The closed sets the columns below hold, each written once. Runtime checks use
# ``typing.get_args`` of these; the columns stay plain strings in the database (their explicit
# `String` types fix the DDL), so adding a value needs no schema change.

DraftStatus = Literal["pending", "approved", "edited", "rejected"]
"""A draft's review state: pending until one decision makes it approved, edited or rejected."""

DecisionName = Literal["approve", "edit", "reject"]
"""A reviewer's decision, as `decide` takes it and the `reviews` table stores it."""

Role = Literal["do", "review"]
"""A plan row's part in a subtask: do it, or review the AI's draft of it."""

WorkStatus = Literal["open", "done", "withdrawn"]
"""A work item is open until its output is submitted; a re-plan that gives its subtask to
someone else withdraws it (kept, so the trail shows who had it)."""

WorkOrigin = Literal["plan", "rejected_draft"]
"""Why a person has a work item: the plan gave them the subtask, or they rejected its draft."""

AgentState = Literal["running", "stopped", "lost"]
"""A scheduling agent's state: running until it stops; lost when another agent found its
heartbeat older than its lease (killed, or its machine gone) and said so once in the trail."""

SCHEMA_VERSION = 4
"""The schema this coassist writes and understands.

2: `assignments.claimed_by` / `claimed_until` (drafting claims) and `work_items.done_by`.
3: the scheduling agent's tables: `agents`, `plan_versions`; the team's hours, skills and costs
   on `workers`; `plans.version` / `replanned_through`; `work_items.started_at`.
4: `assignments.claim_token`: each claim's own token, which every write made under the claim
   compares (fencing).
"""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class SchemaInfo(Base):
    """A single row: the schema version the database was written with (kept for coassists from
    before Alembic, which read only this; see `coassist.review.store`)."""

    __tablename__ = "coassist_schema"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subtask(Base):
    """A piece of a project's work, as the allocator saw it (the router's input text lives here)."""

    __tablename__ = "subtasks"
    __table_args__ = (UniqueConstraint("project_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    skill: Mapped[str] = mapped_column(String(200))
    human_hours: Mapped[float] = mapped_column(Float)
    ai_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    review_hours: Mapped[float] = mapped_column(Float)
    p_pass: Mapped[float] = mapped_column(Float)
    depends_on: Mapped[list[Any]] = mapped_column(default=list)


class Plan(Base):
    """A plan and its current version: a re-plan rewrites the not-started assignments in place
    (drafts and work items stay attached to the plan) and bumps `version`, keeping the diff in
    `plan_versions`."""

    __tablename__ = "plans"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    """Compared and bumped by a re-plan, so of two agents re-planning at once one writes."""
    replanned_through: Mapped[int] = mapped_column(Integer, default=0)
    """The newest audit event the current version took into account: a re-plan is due when an
    event that calls for one is newer."""


class PlanVersion(Base):
    """One version of a plan: the import (version 1) or a re-plan, with what changed and why."""

    __tablename__ = "plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    makespan: Mapped[float | None] = mapped_column(Float, nullable=True)
    diff: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """`PlanDiff.as_dict()` of a re-plan (empty for the import); `why_not` set when no plan fit,
    and then the assignments were left as they were."""


class Worker(Base):
    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("plan_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[WorkerKind] = mapped_column(String(10))
    skills: Mapped[list[Any] | None] = mapped_column(nullable=True)
    capacity_hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    cost_per_hour: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Skills, hours and cost as the allocator saw them (None when the plan was imported with
    only ``id, kind``: then it cannot be re-planned). `set_capacity` changes the hours."""


class Assignment(Base):
    """One row of the allocator's plan table: who does or reviews which subtask, and when.

    An AI worker's ``do`` row is also the drafting claim: a drafting run sets `claimed_by` (its
    own id), `claimed_until` (the lease) and `claim_token` (new for each claim) with one
    conditional UPDATE before generating, so two runs never generate the same subtask, and a
    crashed run's claims lapse. Every later write under the claim (the drafts, a longer lease,
    the release) compares `claimed_by` and `claim_token` in the same statement: a run that was
    away past its lease, while another run claimed the subtask or a re-plan rewrote the row,
    matches nothing and stores nothing (see `coassist.review.drafting`).
    """

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    subtask_id: Mapped[int] = mapped_column(ForeignKey("subtasks.id"), index=True)
    worker: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(String(10))
    start_hour: Mapped[float] = mapped_column(Float)
    end_hour: Mapped[float] = mapped_column(Float)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)


class Draft(Base):
    """An AI draft of one subtask in one plan, with its provenance and review state.

    The unique (plan, subtask) pair is what makes a rerun of drafting unable to repeat a draft;
    `version` is the optimistic-concurrency counter that decisions compare and bump. `status` is
    pending, approved, edited or rejected; `final_text` is the accepted result (approved: the
    draft; edited: the reviewer's text; rejected: none).
    """

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("plan_id", "subtask_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    subtask_id: Mapped[int] = mapped_column(ForeignKey("subtasks.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    messages: Mapped[list[Any]] = mapped_column()
    rendered_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_spec: Mapped[str] = mapped_column(String(500))
    adapter: Mapped[str | None] = mapped_column(String(500), nullable=True)
    provenance: Mapped[dict[str, Any]] = mapped_column()
    p_pass: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[DraftStatus] = mapped_column(String(10), default="pending", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    final_text: Mapped[str | None] = mapped_column(Text, nullable=True)


class Review(Base):
    """The one decision on a draft (unique per draft: a second can never be stored)."""

    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    draft_id: Mapped[int] = mapped_column(ForeignKey("drafts.id"), unique=True)
    decision: Mapped[DecisionName] = mapped_column(String(10))
    edited_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkItem(Base):
    """A person's piece of work: a human-assigned subtask, or a rejected draft to redo."""

    __tablename__ = "work_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    subtask_id: Mapped[int] = mapped_column(ForeignKey("subtasks.id"), index=True)
    worker: Mapped[str] = mapped_column(String(200), index=True)
    origin: Mapped[WorkOrigin] = mapped_column(String(20))
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id"), nullable=True)
    status: Mapped[WorkStatus] = mapped_column(String(10), default="open")
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When the person said they started (`start_work`); from then the re-plan holds it."""
    done_at: Mapped[datetime | None] = mapped_column(nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Who submitted the output (`worker`, or whoever submitted on their behalf)."""


class AgentRecord(Base):
    """A scheduling agent's presence: who it is, which AI worker it drafts for, its heartbeat."""

    __tablename__ = "agents"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    """The agent's claimer id (host:pid:nonce), as it appears in `assignments.claimed_by`."""
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    worker: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_seconds: Mapped[float] = mapped_column(Float)
    state: Mapped[AgentState] = mapped_column(String(10), default="running")
    drafted: Mapped[int] = mapped_column(Integer, default=0)
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AuditEvent(Base):
    """One change to the database: who, when, what, and the values involved."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
