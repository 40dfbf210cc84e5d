"""The review database: where it lives, SQLite settings, schema version, plan import, audit trail."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from coassist.errors import CyclicPlan, InvalidTaskTable, SchemaTooNew
from coassist.plan.model import WorkerKind
from coassist.review import audit_trail, default_db_url, import_plan, open_store, submit_work, work_items
from coassist.review.plans import _check_plan_rows, _plan_row
from coassist.review.schema import SCHEMA_VERSION
from tests.test_review_support import small_plan


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


def test_reopening_keeps_data_and_version(db_path: Path) -> None:
    with open_store(str(db_path)) as store:
        import_plan(store, *small_plan(), project="p")
    with open_store(str(db_path)) as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM coassist_schema").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM subtasks").scalar() == 5


def test_newer_schema_is_refused_with_versions_and_fix(db_path: Path) -> None:
    open_store(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE coassist_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew) as caught:
        open_store(str(db_path))
    message = str(caught.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"up to version {SCHEMA_VERSION}" in message
    assert "pip install -U coassist" in message and str(db_path) in message


def test_import_plan_stores_tables_and_human_work(db_path: Path) -> None:
    store = open_store(str(db_path))
    plan_id = import_plan(store, *small_plan(), project="sales", name="week 1", actor="lead")
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT s.key, a.worker, a.role, a.start_hour, a.end_hour FROM assignments a "
            "JOIN subtasks s ON s.id = a.subtask_id WHERE a.plan_id = ? ORDER BY a.id",
            (plan_id,),
        ).all()
        depends = dict(connection.exec_driver_sql("SELECT key, depends_on FROM subtasks").all())
        ai_hours = dict(connection.exec_driver_sql("SELECT key, ai_hours FROM subtasks").all())
    assert rows[:2] == [("a", "gpu", "do", 0.0, 0.1), ("a", "ana", "review", 0.1, 0.6)]
    assert len(rows) == 9
    assert depends == {"a": "[]", "b": '["a"]', "c": "[]", "d": '["c"]', "e": "[]"}
    assert ai_hours["c"] is None
    items = work_items(store, worker="ana")
    assert [(i.subtask, i.origin, i.status) for i in items] == [("c", "plan", "open")]
    assert work_items(store, worker="bo") == []


def test_audit_trail_records_each_change_with_actor(db_path: Path) -> None:
    store = open_store(str(db_path))
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


def test_reimport_updates_changed_subtasks_and_audits_the_change(db_path: Path) -> None:
    store = open_store(str(db_path))
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
        (0, lambda f: f.drop(columns=["p_pass"]), "subtask 'a' has ai_hours and the plan has the AI draft it, but has no p_pass"),
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


def test_an_allocator_plan_object_is_accepted_but_not_a_relaxed_one(db_path: Path) -> None:
    subtasks, workers, table = small_plan()
    store = open_store(str(db_path))
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


def test_a_version_1_database_is_upgraded_in_place(db_path: Path) -> None:
    """Version 2 added drafting claims and `work_items.done_by`; a version-1 file keeps its data."""
    with open_store(str(db_path)) as store:
        import_plan(store, *small_plan(), project="p")
    with sqlite3.connect(db_path) as connection:  # what coassist with schema 1 wrote
        added = (("assignments", "claimed_by"), ("assignments", "claimed_until"), ("work_items", "done_by"))
        for table, column in added:
            connection.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        connection.execute("UPDATE coassist_schema SET version = 1")

    with open_store(str(db_path)) as store:
        (item,) = work_items(store, worker="ana")
        submit_work(store, item.id, "done", actor="ana")
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version FROM coassist_schema").fetchall() == [(SCHEMA_VERSION,)]
        columns = {row[1] for row in connection.execute("PRAGMA table_info(assignments)")}
        assert {"claimed_by", "claimed_until"} <= columns
        assert connection.execute("SELECT count(*) FROM assignments").fetchone() == (9,)
        assert connection.execute("SELECT output, done_by FROM work_items").fetchall() == [("done", "ana")]


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
