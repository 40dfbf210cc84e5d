"""Two processes, one review database: each write that can race is tested racing.

Every test starts two real processes (fresh ones, so each has its own connection and lock) and
meets them at a barrier right before the contested write, so the race happens on every run
rather than by luck; each runs on SQLite and on PostgreSQL (`db_url`). Deciding a draft races
in tests/test_review_decisions.py, the same way.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from coassist.errors import PlanImportConflict, WorkAlreadySubmitted
from coassist.llm.chat import Generation, GenerationSettings, Message
from coassist.review import (
    DraftingConfig,
    draft_ai_subtasks,
    import_plan,
    open_store,
    submit_work,
    work_items,
)
from coassist.review.schema import Assignment, Subtask, utcnow
from tests.test_review_support import ScriptedModel, independent_plan, small_plan

PROCESSES = multiprocessing.get_context("forkserver")
# Each child forks from one server process that imported these once, instead of importing pandas,
# SQLAlchemy and coassist afresh (seconds per child on a busy machine). The server opens no
# database, so the children share no connection or lock. tests/test_review_decisions.py asks
# for the same list: the first start of the server decides it.
PROCESSES.set_forkserver_preload(["coassist.review", "tests.test_review_support", "psycopg"])


def _meet_before(store: Any, statement_start: str | tuple[str, ...], barrier: Any) -> None:
    """Hold this process at `barrier` just before its first statement starting with
    `statement_start` (before its transaction takes the write lock), once."""
    met: list[bool] = []

    def meet(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(statement_start) and not met:
            met.append(True)
            barrier.wait(timeout=30)

    event.listen(store.engine, "before_cursor_execute", meet)


def _run_both(target: Any, args: list[tuple[Any, ...]], results: Any) -> list[Any]:
    processes = [PROCESSES.Process(target=target, args=a) for a in args]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    return outcomes


# --- opening a new database ----------------------------------------------------------------


def _open_in_process(url: str, barrier: Any, results: Any) -> None:
    barrier.wait(timeout=30)
    try:
        with open_store(url) as store:
            results.put(("opened", store.schema_revision))
    except Exception as error:  # anything, so the test sees what went wrong
        results.put((type(error).__name__, str(error)))


def test_two_processes_opening_a_new_database_create_its_schema_once(db_url: str) -> None:
    """Both first opens meet at a barrier and then migrate at once: the schema lock (SQLite's
    BEGIN IMMEDIATE, PostgreSQL's advisory lock) makes the second wait and find the schema made."""
    barrier, results = PROCESSES.Barrier(2), PROCESSES.Queue()
    outcomes = _run_both(_open_in_process, [(db_url, barrier, results)] * 2, results)

    assert [status for status, _ in outcomes] == ["opened", "opened"], outcomes
    with open_store(db_url) as store, store.engine.connect() as connection:
        assert outcomes == [("opened", store.schema_revision)] * 2
        assert connection.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
        assert connection.exec_driver_sql("SELECT count(*) FROM coassist_schema").scalar() == 1


# --- submitting work ----------------------------------------------------------------------


def _submit_in_process(url: str, item_id: int, who: str, barrier: Any, results: Any) -> None:
    store = open_store(url)
    _meet_before(store, ("UPDATE", "INSERT"), barrier)  # its first write, whichever it is
    try:
        submit_work(store, item_id, f"{who}'s result", actor=who)
        results.put((who, "stored", None, None))
    except WorkAlreadySubmitted as error:
        results.put((who, str(error), error.submitted_by, error.submitted_at))
    store.close()


def test_two_submissions_of_one_work_item_store_one_and_name_the_first(db_url: str) -> None:
    store = open_store(db_url)
    import_plan(store, *small_plan())
    (item,) = work_items(store, worker="ana")
    barrier, results = PROCESSES.Barrier(2), PROCESSES.Queue()
    outcomes = _run_both(
        _submit_in_process, [(store.url, item.id, who, barrier, results) for who in ("ana", "bo")], results
    )

    (winner,) = [who for who, outcome, _, _ in outcomes if outcome == "stored"]
    (loser,) = [o for o in outcomes if o[1] != "stored"]
    (done,) = work_items(store, status="done")
    assert (done.id, done.output) == (item.id, f"{winner}'s result")  # the winner's, not overwritten
    assert loser[2] == winner and loser[3] == done_at(store, item.id)
    assert f"already submitted by {winner!r}" in loser[1] and "your output was not stored" in loser[1]
    with store.engine.connect() as connection:
        submitted = connection.exec_driver_sql(
            "SELECT actor FROM audit WHERE action = 'work.submitted'"
        ).all()
    assert submitted == [(winner,)]


def done_at(store: Any, item_id: int) -> Any:
    from coassist.review.schema import WorkItem
    from coassist.review.store import as_utc

    with store.session() as session:
        item = session.get(WorkItem, item_id)
        return as_utc(item.done_at)


# --- importing a plan -----------------------------------------------------------------------


def _import_in_process(url: str, who: str, attempts: int, barrier: Any, results: Any) -> None:
    import coassist.review.plans as plans

    plans._IMPORT_ATTEMPTS = attempts
    store = open_store(url)
    # Both have looked for the project (and found none) when they meet here.
    _meet_before(store, "INSERT INTO projects", barrier)
    try:
        results.put((who, "stored", import_plan(store, *small_plan(), project="churn", actor=who)))
    except Exception as error:  # anything, so the test sees a raw IntegrityError if one escapes
        results.put((who, type(error).__name__, str(error)))
    store.close()


def test_two_imports_into_a_new_project_store_two_plans(db_url: str) -> None:
    store = open_store(db_url)
    barrier, results = PROCESSES.Barrier(2), PROCESSES.Queue()
    outcomes = _run_both(
        _import_in_process, [(store.url, who, 3, barrier, results) for who in ("ana", "bo")], results
    )

    assert sorted((who, status) for who, status, _ in outcomes) == [("ana", "stored"), ("bo", "stored")]
    assert sorted(plan_id for _, _, plan_id in outcomes) == [1, 2]
    with store.engine.connect() as connection:
        count = {t: connection.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in TABLES}
        created = connection.exec_driver_sql("SELECT count(*) FROM audit WHERE action = 'project.created'")
        assert created.scalar() == 1
    assert count == {"projects": 1, "subtasks": 5, "plans": 2, "assignments": 18, "work_items": 2}


TABLES = ("projects", "subtasks", "plans", "assignments", "work_items")


def test_an_import_that_keeps_losing_says_so_and_stores_nothing(db_url: str) -> None:
    """With one attempt the loser cannot retry: a PlanImportConflict, never a raw IntegrityError."""
    store = open_store(db_url)
    barrier, results = PROCESSES.Barrier(2), PROCESSES.Queue()
    outcomes = _run_both(
        _import_in_process, [(store.url, who, 1, barrier, results) for who in ("ana", "bo")], results
    )

    statuses = sorted(status for _, status, _ in outcomes)
    assert statuses == [PlanImportConflict.__name__, "stored"]
    (message,) = [text for _, status, text in outcomes if status != "stored"]
    assert (
        "project 'churn'" in message and "Nothing of this import was stored; run import_plan again" in message
    )
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM plans").scalar() == 1


# --- drafting -----------------------------------------------------------------------------


class _CountingModel(ScriptedModel):
    """Slow enough (0.2 s a batch) that two runs are generating at the same time."""

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[Generation]:
        time.sleep(0.2)
        return super().generate_batch(conversations, settings)


def _draft_in_process(url: str, plan_id: int, barrier: Any, results: Any) -> None:
    store = open_store(url)
    model = _CountingModel()
    barrier.wait(timeout=30)
    report = draft_ai_subtasks(store, plan_id, model, DraftingConfig(batch_size=2, progress=False))
    generated = [conversation for batch in model.batches for conversation in batch]
    results.put(
        (os.getpid(), report.drafted, report.already_drafted, dict(report.claimed_elsewhere), len(generated))
    )
    store.close()


def test_two_drafting_processes_generate_each_subtask_once(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(8))
    keys = {f"t{i}" for i in range(8)}
    barrier, results = PROCESSES.Barrier(2), PROCESSES.Queue()
    outcomes = _run_both(_draft_in_process, [(store.url, plan_id, barrier, results)] * 2, results)

    assert sum(generated for *_, generated in outcomes) == 8  # no draft generated twice
    (pid_a, drafted_a, *_), (pid_b, drafted_b, *_) = outcomes
    assert set(drafted_a).isdisjoint(drafted_b) and set(drafted_a) | set(drafted_b) == keys
    for pid, drafted, already, elsewhere, _ in outcomes:
        # What a run did not draft, it reports: claimed by the other run, or drafted by it meanwhile.
        assert set(drafted) | set(already) | set(elsewhere) == keys
        assert all(holder.split(":")[1] in (str(pid_a), str(pid_b)) for holder in elsewhere.values())
        assert all(holder.split(":")[1] != str(pid) for holder in elsewhere.values())
    with store.engine.connect() as connection:
        drafts = connection.exec_driver_sql(
            "SELECT s.key FROM drafts d JOIN subtasks s ON s.id = d.subtask_id"
        ).all()
        assert sorted(k for (k,) in drafts) == sorted(keys)
        claimed = connection.exec_driver_sql("SELECT count(*) FROM assignments WHERE claimed_by IS NOT NULL")
        assert claimed.scalar() == 0


# --- leases: a crashed drafter's claims -----------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("holder", "lease", "drafted"),
    [
        pytest.param(
            lambda: f"{socket.gethostname()}:{_dead_pid()}:ab12", 3600, True, id="dead-local-process"
        ),
        pytest.param(lambda: "other-host:1:ab12", -1, True, id="lease-expired"),
        pytest.param(lambda: "other-host:1:ab12", 3600, False, id="live-claim-elsewhere"),
        pytest.param(lambda: f"{socket.gethostname()}:1:ab12", 3600, False, id="live-local-process"),
    ],
)
def test_a_claim_is_kept_while_its_run_may_be_alive(
    db_url: str, holder: Any, lease: int, drafted: bool
) -> None:
    """A run killed mid-batch leaves its claim: a rerun takes it over once the lease ends, or at
    once when that run was on this machine and its process is gone (pid 1 is always alive)."""
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(2))
    name = holder()
    with store.session() as session:  # what the killed run left behind
        session.execute(
            update(Assignment)
            .where(
                Assignment.role == "do",
                Assignment.subtask_id.in_(select(Subtask.id).where(Subtask.key == "t0")),
            )
            .values(claimed_by=name, claimed_until=utcnow() + timedelta(seconds=lease))
        )
    report = draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    if drafted:
        assert (report.drafted, report.claimed_elsewhere) == (("t0", "t1"), {})
    else:
        assert report.drafted == ("t1",)
        assert list(report.claimed_elsewhere) == ["t0"]
        assert report.claimed_elsewhere["t0"].startswith(f"{name} until ")
