"""The review database: where it lives, SQLite settings, schema migrations, plan import, audit trail.

Tests that store something run on SQLite and PostgreSQL (the `db_url` fixture); checks of the
input tables alone, and of SQLite's own settings, run on SQLite only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from coassist.errors import CyclicPlan, InvalidTaskTable, SchemaTooNew
from coassist.plan.model import WorkerKind
from coassist.review import audit_trail, default_db_url, import_plan, open_store, submit_work, work_items
from coassist.review.drafting import claim_batch, ready_ai_subtasks
from coassist.review.plans import _check_plan_rows, _plan_row
from coassist.review.schema import SCHEMA_VERSION, Base, Subtask
from coassist.review.store import alembic_config
from tests.test_review_support import independent_plan, small_plan


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "review.db"


def test_default_url_follows_env_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COASSIST_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_url() == f"sqlite:///{tmp_path / 'data' / 'coassist' / 'coassist.db'}"
    monkeypatch.setenv("COASSIST_DB", str(tmp_path / "team.db"))
    assert default_db_url() == f"sqlite:///{tmp_path / 'team.db'}"
    monkeypatch.setenv("COASSIST_DB", "postgresql+psycopg://me@db/coassist")
    assert default_db_url() == "postgresql+psycopg://me@db/coassist"


def test_open_store_creates_file_in_wal_mode_with_busy_timeout(db_path: Path) -> None:
    store = open_store(str(db_path))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert connection.exec_driver_sql("SELECT version FROM coassist_schema").scalar() == SCHEMA_VERSION
    store.close()
    assert db_path.exists()


def test_reopening_keeps_data_and_revision(db_url: str) -> None:
    with open_store(db_url) as store:
        import_plan(store, *small_plan(), project="p")
        assert (store.schema_version, store.schema_revision) == (SCHEMA_VERSION, _head())
    with open_store(db_url) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version FROM coassist_schema").all() == [(SCHEMA_VERSION,)]
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").all() == [(_head(),)]
        assert connection.exec_driver_sql("SELECT count(*) FROM subtasks").scalar() == 5


def test_the_migrations_build_exactly_the_models_tables(db_url: str) -> None:
    """What `upgrade head` creates is what schema.py declares: Alembic finds nothing to change."""
    with open_store(db_url) as store, store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_newer_schema_is_refused_with_versions_and_fix(db_url: str) -> None:
    with open_store(db_url) as store:
        shown_url = store.url
    _execute(db_url, f"UPDATE coassist_schema SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew) as caught:
        open_store(db_url)
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to version {SCHEMA_VERSION}" in message
    assert "pip install -U coassist" in message and shown_url in message


def test_a_revision_from_a_newer_coassist_is_refused_and_left_alone(db_url: str) -> None:
    open_store(db_url).close()
    _execute(db_url, "UPDATE alembic_version SET version_num = 'f00dcafe'")
    with pytest.raises(
        SchemaTooNew,
        match=rf"schema revision 'f00dcafe', but this coassist understands only up to revision '{_head()}'.*pip install -U coassist",
    ):
        open_store(db_url)
    assert _query(db_url, "SELECT version_num FROM alembic_version") == [("f00dcafe",)]


def test_import_plan_stores_tables_and_human_work(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan(), project="sales", name="week 1", actor="lead")
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT s.key, a.worker, a.role, a.start_hour, a.end_hour FROM assignments a "
                "JOIN subtasks s ON s.id = a.subtask_id WHERE a.plan_id = :plan ORDER BY a.id"
            ),
            {"plan": plan_id},
        ).all()
    with store.session() as session:
        stored = {s.key: (s.depends_on, s.ai_hours) for s in session.scalars(select(Subtask))}
    assert rows[:2] == [("a", "gpu", "do", 0.0, 0.1), ("a", "ana", "review", 0.1, 0.6)]
    assert len(rows) == 9
    assert {key: depends for key, (depends, _) in stored.items()} == {
        "a": [],
        "b": ["a"],
        "c": [],
        "d": ["c"],
        "e": [],
    }
    assert stored["c"][1] is None and stored["a"][1] == 0.1
    items = work_items(store, worker="ana")
    assert [(i.subtask, i.origin, i.status) for i in items] == [("c", "plan", "open")]
    assert work_items(store, worker="bo") == []


def test_audit_trail_records_each_change_with_actor(db_url: str) -> None:
    store = open_store(db_url)
    import_plan(store, *small_plan(), project="sales", actor="lead")
    actions = [(e.actor, e.action, e.entity) for e in audit_trail(store)]
    assert actions[0] == ("lead", "project.created", "project")
    assert actions.count(("lead", "subtask.created", "subtask")) == 5
    assert actions.count(("lead", "work.assigned", "work_item")) == 1
    assert actions[-1] == ("lead", "plan.imported", "plan")
    assert audit_trail(store, entity="plan")[0].detail == {
        "project": "sales",
        "name": "",
        "subtasks": 5,
        "assignments": 9,
    }
    assert all(e.at.utcoffset() == timedelta(0) for e in audit_trail(store))


def test_reimport_updates_changed_subtasks_and_audits_the_change(db_url: str) -> None:
    store = open_store(db_url)
    subtasks, workers, plan = small_plan()
    first = import_plan(store, subtasks, workers, plan, project="sales", actor="lead")
    subtasks.loc[subtasks["id"] == "b", "p_pass"] = 0.7
    second = import_plan(store, subtasks, workers, plan, project="sales", actor="lead")
    assert second == first + 1
    updates = [e for e in audit_trail(store, entity="subtask") if e.action == "subtask.updated"]
    assert [(e.detail["key"], e.detail["changes"]) for e in updates] == [("b", {"p_pass": [0.3, 0.7]})]
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM subtasks").scalar() == 5


def _edit(which: int, change: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[pd.DataFrame, ...]:
    """`small_plan()` with one of its three frames changed."""
    frames = list(small_plan())
    frames[which] = change(frames[which])
    return tuple(frames)


def _set(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.at[row, column] = value
        return frame

    return change


@pytest.mark.parametrize(
    ("which", "change", "expected"),
    [
        (
            0,
            lambda f: f.drop(columns=["p_pass"]),
            "subtask 'a' has ai_hours and the plan has the AI draft it, but has no p_pass",
        ),
        (0, _set(1, "id", "a"), "subtask id 'a' appears more than once"),
        (0, _set(1, "depends_on", "a;zz"), "'b' depends on 'zz', which is not in"),
        (0, _set(0, "p_pass", 1.5), "p_pass is 1.5, but it is a probability and must be in"),
        (1, _set(2, "kind", "robot"), "kind 'robot'; kind must be one of human, ai"),
        (2, _set(0, "role", "draft"), "role 'draft'; use 'do' or 'review'"),
        (2, _set(0, "worker", "zoe"), "worker 'zoe', which is not in the worker table"),
        (2, lambda f: f.drop(index=1), r"'a' is drafted by AI worker 'gpu' but has 0 'review' rows"),
        (2, lambda f: f.drop(index=6), "'c' has 0 'do' rows"),
        (2, _set(1, "worker", "gpu"), "'gpu' is an AI worker and cannot review 'a'"),
    ],
)
def test_invalid_tables_are_refused_naming_the_input(
    db_path: Path, which: int, change, expected: str
) -> None:
    store = open_store(str(db_path))
    with pytest.raises(InvalidTaskTable, match=expected):
        import_plan(store, *_edit(which, change))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM plans").scalar() == 0


def test_dependency_cycle_is_named(db_path: Path) -> None:
    frames = _edit(0, _set(0, "depends_on", "b"))
    with pytest.raises(CyclicPlan) as caught:
        import_plan(open_store(str(db_path)), *frames)
    assert sorted(caught.value.cycle) == ["a", "b"]


def test_an_allocator_plan_object_is_accepted_but_not_a_relaxed_one(db_url: str) -> None:
    subtasks, workers, table = small_plan()
    store = open_store(db_url)
    whole = SimpleNamespace(assignments=table.assign(share=1.0, hours=0.5, cost=10.0))
    plan_id = import_plan(store, subtasks, workers, whole)
    assert audit_trail(store, entity="plan", entity_id=plan_id)[0].detail["assignments"] == 9
    relaxed = SimpleNamespace(assignments=table.assign(share=[0.5] + [1.0] * 8))
    with pytest.raises(InvalidTaskTable, match="fractional shares .* allocate again without --relax"):
        import_plan(store, subtasks, workers, relaxed)
    with pytest.raises(InvalidTaskTable, match="the plan is a list; pass the plan table as a DataFrame"):
        import_plan(store, subtasks, workers, [])


def test_the_allocators_own_example_tables_import_as_they_are(tmp_path: Path) -> None:
    """Person-only subtasks leave p_pass and review_hours blank in CSV; both are accepted."""
    from coassist.plan import allocate

    data = Path(__file__).resolve().parents[1] / "examples" / "data"
    tasks, workers = pd.read_csv(data / "tasks.csv"), pd.read_csv(data / "workers.csv")
    assert tasks.loc[tasks["ai_hours"].isna(), "p_pass"].isna().any()
    store = open_store(tmp_path / "review.db")  # a Path works as well as a URL
    plan_id = import_plan(store, tasks, workers, allocate(tasks, workers))
    assert plan_id == 1


def test_ai_capable_subtask_without_p_pass_is_refused() -> None:
    subtasks, workers, plan = small_plan()
    subtasks = subtasks.copy()
    subtasks["p_pass"] = subtasks["p_pass"].astype(object)
    ai_row = subtasks.index[subtasks["ai_hours"].notna()][0]
    subtasks.loc[ai_row, "p_pass"] = ""
    with pytest.raises(InvalidTaskTable, match="has ai_hours.*but has no p_pass") as caught:
        import_plan(open_store("sqlite://"), subtasks, workers, plan)
    assert caught.value.column == "p_pass"


@pytest.mark.parametrize("version", [1, 2])
def test_a_database_from_before_alembic_is_brought_under_it(db_url: str, version: int) -> None:
    """coassist created databases itself before Alembic: `coassist_schema` and no
    `alembic_version`. Version 2 is stamped as it is; version 1 first gets the drafting claims and
    `work_items.done_by`. Both keep their data."""
    with open_store(db_url) as store:
        import_plan(store, *small_plan(), project="p")
    # what a coassist before Alembic wrote
    statements = ["DROP TABLE alembic_version", *_VERSION_4_ADDED, *_VERSION_3_ADDED]
    if db_url.startswith("postgresql"):
        statements += ["DROP TRIGGER coassist_audit_notify ON audit", "DROP FUNCTION coassist_notify()"]
    if version == 1:
        added = (("assignments", "claimed_by"), ("assignments", "claimed_until"), ("work_items", "done_by"))
        statements += [f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in added]
        statements.append("UPDATE coassist_schema SET version = 1")
    _execute(db_url, *statements)

    with open_store(db_url) as store:
        (item,) = work_items(store, worker="ana")
        submit_work(store, item.id, "done", actor="ana")
        columns = {c["name"] for c in inspect(store.engine).get_columns("assignments")}
    assert {"claimed_by", "claimed_until"} <= columns
    assert _query(db_url, "SELECT version FROM coassist_schema") == [(SCHEMA_VERSION,)]
    assert _query(db_url, "SELECT version_num FROM alembic_version") == [(_head(),)]
    assert _query(db_url, "SELECT count(*) FROM assignments") == [(9,)]
    assert _query(db_url, "SELECT output, done_by FROM work_items") == [("done", "ana")]


_VERSION_3_ADDED = (
    "DROP TABLE agents",
    "DROP TABLE plan_versions",
    *(
        f"ALTER TABLE {table} DROP COLUMN {column}"
        for table, column in (
            ("workers", "skills"),
            ("workers", "capacity_hours"),
            ("workers", "cost_per_hour"),
            ("plans", "version"),
            ("plans", "replanned_through"),
            ("work_items", "started_at"),
        )
    ),
    "UPDATE coassist_schema SET version = 2",
)
"""Undo revision 0003, leaving the schema coassist wrote before Alembic (version 2)."""

_VERSION_4_ADDED = ("ALTER TABLE assignments DROP COLUMN claim_token", "UPDATE coassist_schema SET version = 3")
"""Undo revision 0004, leaving schema version 3."""


def test_a_version_3_database_gains_claim_tokens_and_keeps_its_claims(db_url: str) -> None:
    """0004 adds `assignments.claim_token` in place. A claim taken before it (no token) still
    holds its subtask until its lease ends: its run, an older coassist, may still be drafting."""
    with open_store(db_url) as store:
        plan_id = import_plan(store, *independent_plan(2), project="p")
    _execute(
        db_url,
        *_VERSION_4_ADDED,
        "UPDATE alembic_version SET version_num = '0003'",
        "UPDATE assignments SET claimed_by = 'old-run', claimed_until = '2999-01-01 00:00:00+00' "
        "WHERE role = 'do' AND subtask_id = (SELECT id FROM subtasks WHERE key = 't0')",
    )
    with open_store(db_url) as store:
        assert (store.schema_version, store.schema_revision) == (4, "0004")
        claim = claim_batch(store, plan_id, ready_ai_subtasks(store, plan_id).ready, "new-run", 60)
        assert [t.key for t in claim.subtasks] == ["t1"] and claim.elsewhere["t0"].startswith("old-run until ")
    assert _query(db_url, "SELECT version FROM coassist_schema") == [(4,)]
    assert _query(db_url, "SELECT count(*) FROM assignments") == [(4,)]


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def _execute(url: str, *statements: str) -> None:
    """Run `statements` in one transaction on a connection of their own (not a store's)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    engine.dispose()


def _query(url: str, statement: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.exec_driver_sql(statement)]
    engine.dispose()
    return rows


def test_a_plan_row_is_normalised_and_checked_alone() -> None:
    tasks = {"a": {"p_pass": 0.5}}
    kinds: dict[str, WorkerKind] = {"ana": "human", "gpu": "ai"}
    raw = {"subtask": " a ", "worker": "gpu", "role": " DO ", "start": 0, "end": "1.5"}
    row = _plan_row(3, raw, tasks, kinds)
    assert row == {"subtask": "a", "worker": "gpu", "role": "do", "start": 0.0, "end": 1.5}
    with pytest.raises(InvalidTaskTable, match="plan row 3 has role 'draft'; use 'do' or 'review'") as caught:
        _plan_row(3, {**raw, "role": "draft"}, tasks, kinds)
    assert (caught.value.row, caught.value.column) == (3, "role")


def test_the_whole_plan_needs_one_reviewer_per_ai_draft() -> None:
    tasks = {"a": {"p_pass": 0.5}}
    kinds: dict[str, WorkerKind] = {"ana": "human", "gpu": "ai"}
    do = {"subtask": "a", "worker": "gpu", "role": "do", "start": 0.0, "end": 0.1}
    review = {"subtask": "a", "worker": "ana", "role": "review", "start": 0.1, "end": 0.5}
    _check_plan_rows([do, review], tasks, kinds)
    with pytest.raises(InvalidTaskTable, match="'a' is drafted by AI worker 'gpu' but has 2 'review' rows"):
        _check_plan_rows([do, review, review], tasks, kinds)
    with pytest.raises(InvalidTaskTable, match="'a' has a 'review' row but is not done by an AI worker"):
        _check_plan_rows([{**do, "worker": "ana"}, review], tasks, kinds)
