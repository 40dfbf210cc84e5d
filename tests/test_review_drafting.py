"""Running the AI's share of a plan: dependency order, batching, provenance, crash and resume.

Each test that stores drafts runs on SQLite and on PostgreSQL (`db_url`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.pool import NullPool

from coassist.errors import ClaimLost, CyclicPlan
from coassist.llm import GenerationSettings, load_chat_model
from coassist.llm.chat import Generation
from coassist.review import (
    DraftingConfig,
    SavedDraft,
    audit_trail,
    decide,
    draft_ai_subtasks,
    import_plan,
    open_store,
    submit_work,
    work_items,
)
from coassist.review.drafting import (
    BatchClaim,
    claim_batch,
    claimer_id,
    draft_batch,
    drafting_order,
    extend_claim,
    generate_drafts,
    ready_ai_subtasks,
    release_claims,
    save_drafts,
)
from coassist.review.prompts import DependencyResult
from coassist.review.schema import Assignment, Draft, utcnow
from tests.postgres import SQLITE_ONLY
from tests.test_review_support import ScriptedModel, independent_plan, small_plan

REPO = Path(__file__).resolve().parents[1]
QUIET = DraftingConfig(progress=False)


def _drafts(url: str) -> list[tuple[str, int, str]]:
    """(subtask key, draft id, text) for every draft, by key, read on a connection of its own."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT s.key, d.id, d.text FROM drafts d JOIN subtasks s ON s.id = d.subtask_id ORDER BY s.key"
        ).all()
    engine.dispose()
    return [(key, draft_id, text) for key, draft_id, text in rows]


def test_drafts_ready_subtasks_and_reports_the_waiting_ones(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    model = ScriptedModel()
    report = draft_ai_subtasks(store, plan_id, model, QUIET)
    assert report.drafted == ("a", "e")  # generation 0, by planned start
    assert report.already_drafted == ()
    assert report.waiting == {"b": ("a",), "d": ("c",)}
    assert [len(batch) for batch in model.batches] == [2]
    assert [(k, t) for k, _, t in _drafts(db_url)] == [
        ("a", "draft of Load sales"),
        ("e", "draft of Count rows"),
    ]


def test_each_draft_carries_its_provenance(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    settings = GenerationSettings(max_new_tokens=64)
    draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(generation=settings, progress=False))
    with store.session() as session:
        draft = session.query(Draft).order_by(Draft.id).first()
    assert draft is not None
    assert (draft.model_spec, draft.adapter, draft.p_pass, draft.status, draft.version) == (
        "scripted",
        "adapters/v1",
        0.9,
        "pending",
        1,
    )
    content = draft.messages[0]["content"]
    assert draft.messages == [{"role": "user", "content": content}]
    assert "Subtask: Load sales\nSkill: sql\n\nRead sales.csv" in content
    assert draft.rendered_prompt == f"<user>{content}"
    assert draft.provenance["generation"] == {
        "max_new_tokens": 64,
        "temperature": 0.0,
        "top_p": 0.95,
        "repetition_penalty": 1.0,
    }
    assert draft.provenance["batch_size"] == 2 and draft.provenance["device"] == "cpu"
    assert 0 <= draft.seconds <= draft.provenance["batch_seconds"]
    assert draft.created_at is not None


def test_dependents_are_drafted_from_finished_results_on_the_next_run(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    draft_ai_subtasks(store, plan_id, ScriptedModel(), QUIET)
    draft_a = next(d for k, d, _ in _drafts(db_url) if k == "a")
    decide(store, draft_a, "ana", "edit", edited_text="sales = load('sales.csv')")
    (interviews,) = work_items(store, worker="ana")
    submit_work(store, interviews.id, "Users want faster exports.", actor="ana")

    model = ScriptedModel()
    report = draft_ai_subtasks(store, plan_id, model, QUIET)
    assert report.drafted == ("b", "d")
    assert report.already_drafted == ("a", "e")
    assert report.waiting == {}
    prompt_b, prompt_d = (c[0]["content"] for c in model.batches[0])
    assert "### Load sales (a)\nsales = load('sales.csv')" in prompt_b
    assert "### Interview users (c)\nUsers want faster exports." in prompt_d


def test_long_dependency_results_are_cut_to_the_budget(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    (interviews,) = work_items(store, worker="ana")
    submit_work(store, interviews.id, "x" * 500)
    model = ScriptedModel()
    draft_ai_subtasks(store, plan_id, model, DraftingConfig(dependency_chars=40, progress=False))
    prompt_d = next(c[0]["content"] for c in model.batches[0] if "Write summary" in c[0]["content"])
    assert "\n" + "x" * 40 + " [...]\n" in prompt_d


def test_batches_are_committed_before_the_hook_runs(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(5))
    seen: list[tuple[list[str], int]] = []

    def hook(saved: list[SavedDraft]) -> None:
        seen.append(([s.subtask for s in saved], len(_drafts(db_url))))  # read by another connection

    model = ScriptedModel()
    report = draft_ai_subtasks(
        store, plan_id, model, DraftingConfig(batch_size=2, progress=False), on_batch=hook
    )
    assert [len(b) for b in model.batches] == [2, 2, 1]
    assert seen == [(["t0", "t1"], 2), (["t2", "t3"], 4), (["t4"], 5)]
    assert report.drafted == ("t0", "t1", "t2", "t3", "t4")
    again = ScriptedModel()
    rerun = draft_ai_subtasks(store, plan_id, again, QUIET)
    assert (rerun.drafted, again.batches) == ((), [])
    assert rerun.already_drafted == report.drafted


def test_drafting_with_a_real_tiny_model_records_its_description(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    store = open_store(str(tmp_path / "r.db"))
    plan_id = import_plan(store, *independent_plan(3))
    model = load_chat_model(str(tiny_model_dir), device="cpu")
    config = DraftingConfig(batch_size=2, generation=GenerationSettings(max_new_tokens=6), progress=False)
    report = draft_ai_subtasks(store, plan_id, model, config)
    assert report.drafted == ("t0", "t1", "t2")
    with store.session() as session:
        drafts = session.query(Draft).order_by(Draft.id).all()
    assert [d.provenance["batch_size"] for d in drafts] == [2, 2, 1]
    assert {d.model_spec for d in drafts} == {str(tiny_model_dir)}
    assert drafts[0].provenance["device"] == "cpu" and drafts[0].adapter is None
    assert drafts[0].rendered_prompt == model.render_prompt(drafts[0].messages)
    assert drafts[0].rendered_prompt.endswith("<|im_start|>assistant\n")


def _rival_drafts(conversations: list, settings: GenerationSettings) -> list[Generation]:
    return [Generation("rival's draft", "stop", 1, 0.0, 0.0) for _ in conversations]


def _racing_model(other, plan_id: int, rival_reports: list):  # type: ignore[no-untyped-def]
    """A model whose first batch starts another run (its own connection) on the same plan."""

    class Racing(ScriptedModel):
        def generate_batch(self, conversations, settings):  # type: ignore[no-untyped-def]
            if not self.batches:
                rival = ScriptedModel()
                rival.generate_batch = _rival_drafts  # type: ignore[method-assign]
                rival_reports.append(
                    draft_ai_subtasks(other, plan_id, rival, DraftingConfig(batch_size=1, progress=False))
                )
            return super().generate_batch(conversations, settings)

    return Racing()


def test_two_drafters_at_once_never_store_two_drafts_of_a_subtask(db_url: str) -> None:
    """While this run generates, another run claims, drafts and commits them all first: this
    run's lease has lapsed (a run slower than its lease), so its claim is lost and the fence
    drops its batch; the report says what happened to each."""
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(3))
    other = open_store(db_url)

    lapsed = DraftingConfig(batch_size=3, progress=False, claim_seconds=1e-6)
    report = draft_ai_subtasks(store, plan_id, _racing_model(other, plan_id, []), lapsed)
    assert report.drafted == ()  # its batch was dropped whole
    assert report.claimed_elsewhere == dict.fromkeys(("t0", "t1", "t2"), "drafted meanwhile")
    assert [(k, t) for k, _, t in _drafts(db_url)] == [(k, "rival's draft") for k in ("t0", "t1", "t2")]


def test_a_second_drafter_skips_what_the_first_claimed_and_says_so(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(3))
    other = open_store(db_url)

    rival_reports: list = []
    report = draft_ai_subtasks(store, plan_id, _racing_model(other, plan_id, rival_reports), QUIET)
    (rival,) = rival_reports
    assert report.drafted == ("t0", "t1", "t2") and report.claimed_elsewhere == {}
    assert rival.drafted == () and sorted(rival.claimed_elsewhere) == ["t0", "t1", "t2"]
    holder = rival.claimed_elsewhere["t0"]
    assert holder.startswith(f"{socket.gethostname()}:{os.getpid()}:") and " until " in holder
    assert [(k, t) for k, _, t in _drafts(db_url)] == [
        (k, f"draft of Task {k[1]}") for k in ("t0", "t1", "t2")
    ]
    with store.engine.connect() as connection:  # every claim given back
        claimed = connection.exec_driver_sql("SELECT count(*) FROM assignments WHERE claimed_by IS NOT NULL")
        assert claimed.scalar() == 0


def test_a_failed_batch_gives_its_claims_back(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(2))

    class Broken(ScriptedModel):
        def generate_batch(self, conversations, settings):  # type: ignore[no-untyped-def]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        draft_ai_subtasks(store, plan_id, Broken(), QUIET)
    report = draft_ai_subtasks(store, plan_id, ScriptedModel(), QUIET)
    assert report.drafted == ("t0", "t1") and report.claimed_elsewhere == {}


_DRAFT_SLOWLY = """
import sys, time
from coassist.llm import GenerationSettings, load_chat_model
from coassist.review import DraftingConfig, draft_ai_subtasks, open_store

store = open_store(sys.argv[1])
model = load_chat_model(sys.argv[2], device="cpu")
config = DraftingConfig(batch_size=1, generation=GenerationSettings(max_new_tokens=6), progress=False)
draft_ai_subtasks(store, int(sys.argv[3]), model, config, on_batch=lambda saved: time.sleep(0.5))
"""


# SQLite only: a killed client's open transaction is rolled back by the PostgreSQL server itself,
# and the run (a subprocess loading a model) is the slowest here; the claims such a run leaves
# are tested on both backends in tests/test_races.py.
@SQLITE_ONLY
def test_killed_drafting_loses_nothing_and_rerun_repeats_nothing(db_url: str, tiny_model_dir: Path) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(8))
    child = subprocess.Popen(
        [sys.executable, "-c", _DRAFT_SLOWLY, db_url, str(tiny_model_dir), str(plan_id)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while len(_drafts(db_url)) < 3:
            assert child.poll() is None, "the drafting process ended before it was killed"
            assert time.monotonic() < deadline, "the drafting process saved no 3 drafts in 60 s"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    before = _drafts(db_url)
    assert 3 <= len(before) < 8  # killed in the middle

    model = load_chat_model(str(tiny_model_dir), device="cpu")
    config = DraftingConfig(batch_size=3, generation=GenerationSettings(max_new_tokens=6), progress=False)
    report = draft_ai_subtasks(store, plan_id, model, config)
    after = _drafts(db_url)
    keys = [f"t{i}" for i in range(8)]
    assert [k for k, _, _ in after] == keys  # exactly one draft per subtask
    assert set(report.already_drafted) == {k for k, _, _ in before}
    assert sorted(report.drafted) == sorted(set(keys) - set(report.already_drafted))
    assert [row for row in after if row[0] in report.already_drafted] == before  # kept as they were
    created = [e.detail["subtask"] for e in audit_trail(store, entity="draft") if e.action == "draft.created"]
    assert sorted(created) == keys
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


@pytest.mark.parametrize("size", [0, -1])
def test_config_refuses_a_batch_size_below_one(size: int) -> None:
    with pytest.raises(ValueError, match=f"batch_size: must be at least 1, got {size}"):
        DraftingConfig(batch_size=size)


# --- the steps of a drafting run, called one by one (as a scheduling agent does) ----------------


def test_drafting_order_is_generations_then_start_hour_then_key() -> None:
    depends_on = {"a": [], "b": ["a"], "c": [], "d": ["b", "c"], "e": []}
    start = {"a": 2.0, "b": 0.5, "c": 1.0, "d": 0.0, "e": 1.0}
    assert drafting_order(depends_on, start) == ["c", "e", "a", "b", "d"]
    # A dependency outside `start` still orders its dependents, but is not listed.
    assert drafting_order({"b": ["x"], "c": []}, {"b": 0.0, "c": 5.0}) == ["c", "b"]


def test_drafting_order_names_a_cycle() -> None:
    with pytest.raises(CyclicPlan, match="cycle: (a -> b -> a|b -> a -> b)"):
        drafting_order({"a": ["b"], "b": ["a"]}, {"a": 0.0, "b": 0.0})


def test_readiness_says_what_is_ready_waiting_and_drafted_and_writes_nothing(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *small_plan())
    readiness = ready_ai_subtasks(store, plan_id)
    assert [(t.key, t.title, t.skill, t.p_pass, t.dependencies) for t in readiness.ready] == [
        ("a", "Load sales", "sql", 0.9, ()),
        ("e", "Count rows", "sql", 0.45, ()),
    ]
    assert (readiness.waiting, readiness.drafted) == ({"b": ("a",), "d": ("c",)}, ())
    assert _drafts(db_url) == [] and ready_ai_subtasks(store, plan_id) == readiness

    draft_ai_subtasks(store, plan_id, ScriptedModel(), QUIET)
    draft_a = next(d for k, d, _ in _drafts(db_url) if k == "a")
    decide(store, draft_a, "ana", "edit", edited_text="sales = load('sales.csv')")
    (interviews,) = work_items(store, worker="ana")
    submit_work(store, interviews.id, "Users want faster exports.", actor="ana")
    later = ready_ai_subtasks(store, plan_id)
    assert [(t.key, t.dependencies) for t in later.ready] == [
        ("b", (DependencyResult("a", "Load sales", "sales = load('sales.csv')"),)),
        ("d", (DependencyResult("c", "Interview users", "Users want faster exports."),)),
    ]
    assert (later.waiting, later.drafted) == ({}, ("a", "e"))


def test_a_claim_holds_its_subtasks_against_other_claimers_until_released(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(3))
    ready = ready_ai_subtasks(store, plan_id).ready
    first = claim_batch(store, plan_id, ready[:2], "first-run", 600)
    assert [t.key for t in first.subtasks] == ["t0", "t1"]
    assert (first.plan_id, first.claimer, first.elsewhere, first.drafted_meanwhile) == (
        plan_id,
        "first-run",
        {},
        (),
    )

    second = claim_batch(store, plan_id, ready, "second-run", 600)
    assert [t.key for t in second.subtasks] == ["t2"]
    assert sorted(second.elsewhere) == ["t0", "t1"] and second.drafted_meanwhile == ()
    assert second.elsewhere["t0"].startswith("first-run until ") and second.elsewhere["t0"].endswith(" UTC")
    # The lease end is shown in UTC whatever the server's time zone (the test server's is +05:30).
    lease_end = datetime.strptime(second.elsewhere["t0"], "first-run until %Y-%m-%d %H:%M:%S UTC")
    expected = utcnow() + timedelta(seconds=600)
    assert abs(lease_end.replace(tzinfo=timezone.utc) - expected) < timedelta(seconds=60)

    release_claims(store, first)
    third = claim_batch(store, plan_id, ready[:2], "third-run", 600)
    assert [t.key for t in third.subtasks] == ["t0", "t1"]


def test_a_claim_reports_what_another_run_drafted_meanwhile(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(2))
    ready = ready_ai_subtasks(store, plan_id).ready  # read before the other run drafts t0
    mine = claim_batch(store, plan_id, ready[:1], "other-run", 600)
    draft_batch(store, ScriptedModel(), mine, QUIET)
    release_claims(store, mine)

    claim = claim_batch(store, plan_id, ready, "this-run", 600)
    assert [t.key for t in claim.subtasks] == ["t1"]
    assert (claim.elsewhere, claim.drafted_meanwhile) == ({}, ("t0",))


def test_draft_batch_generates_once_and_commits_the_drafts_under_its_claim(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(3))
    ready = ready_ai_subtasks(store, plan_id).ready
    model = ScriptedModel()
    claim = claim_batch(store, plan_id, ready[:2], "run", 600)
    saved = draft_batch(store, model, claim, QUIET)
    assert [(s.subtask, s.text) for s in saved] == [("t0", "draft of Task 0"), ("t1", "draft of Task 1")]
    assert [len(b) for b in model.batches] == [2]
    assert [(k, d, t) for k, d, t in _drafts(db_url)] == [(s.subtask, s.draft_id, s.text) for s in saved]
    created = [e.detail for e in audit_trail(store, entity="draft") if e.action == "draft.created"]
    assert [(d["subtask"], d["claimed_by"]) for d in created] == [("t0", "run"), ("t1", "run")]
    assert _claims(store, plan_id) == {}  # the drafts gave the claim back in their transaction
    empty = claim_batch(store, plan_id, (), "run", 600)
    assert draft_batch(store, model, empty, QUIET) == [] and len(model.batches) == 1


def _claims(store, plan_id: int) -> dict[int, tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    """Subtask id -> (claimer, token) of every claimed ``do`` row."""
    with store.session() as session:
        rows = session.execute(
            select(Assignment.subtask_id, Assignment.claimed_by, Assignment.claim_token).where(
                Assignment.plan_id == plan_id, Assignment.role == "do", Assignment.claimed_by.is_not(None)
            )
        ).all()
    return {subtask_id: (holder, token) for subtask_id, holder, token in rows}


def test_a_claim_taken_over_after_its_lease_stores_nothing_of_its_batch(db_url: str) -> None:
    """The fence: a run slower than its lease, whose subtasks another run claimed meanwhile,
    stores none of its batch (not even the one still held), and says what holds each now."""
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(3))
    ready = ready_ai_subtasks(store, plan_id).ready
    slow = claim_batch(store, plan_id, ready[:2], "slow-run", 0.05)
    batch = generate_drafts(ScriptedModel(), slow, QUIET)
    time.sleep(0.1)  # its lease runs out while it generates
    fast = claim_batch(store, plan_id, ready[:1], "fast-run", 600)
    assert [t.key for t in fast.subtasks] == ["t0"]
    assert not extend_claim(store, slow, 600)  # a heartbeat cannot win it back

    with pytest.raises(ClaimLost) as caught:
        save_drafts(store, batch)
    assert caught.value.lost == {"t0": "claimed by fast-run"}
    assert "nothing of its batch was stored" in str(caught.value)
    assert _drafts(db_url) == []
    release_claims(store, slow)  # gives back t1, which it still held; t0 stays fast-run's
    assert _claims(store, plan_id) == {fast.subtasks[0].id: ("fast-run", fast.token)}
    assert [s.subtask for s in draft_batch(store, ScriptedModel(), fast, QUIET)] == ["t0"]


def test_a_lapsed_claim_nobody_took_still_stores_and_a_stored_one_cannot_store_twice(db_url: str) -> None:
    """Nobody else is generating a subtask whose lapsed claim was not taken over: the fence
    lets its run store it. Saving the same batch again (a retry after a lost connection whose
    commit had gone through) stores nothing more."""
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(1))
    claim = claim_batch(store, plan_id, ready_ai_subtasks(store, plan_id).ready, "run", 0.05)
    batch = generate_drafts(ScriptedModel(), claim, QUIET)
    time.sleep(0.1)
    assert [s.subtask for s in save_drafts(store, batch)] == ["t0"]
    with pytest.raises(ClaimLost) as caught:
        save_drafts(store, batch)
    assert caught.value.lost == {"t0": "drafted meanwhile"}
    assert len(_drafts(db_url)) == 1


def test_extend_claim_moves_only_the_lease_of_a_claim_still_held(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(2))
    ready = ready_ai_subtasks(store, plan_id).ready
    claim = claim_batch(store, plan_id, ready, "run", 1)
    assert extend_claim(store, claim, 600)
    other = claim_batch(store, plan_id, ready, "other-run", 600)
    assert other.subtasks == () and set(other.elsewhere) == {"t0", "t1"}  # the longer lease holds
    impostor = BatchClaim(plan_id, "run", "not-its-token", claim.subtasks, {}, ())
    assert not extend_claim(store, impostor, 600)
    release_claims(store, impostor)  # the same claimer with another token gives back nothing
    assert set(_claims(store, plan_id).values()) == {("run", claim.token)}


@SQLITE_ONLY
def test_releasing_an_empty_claim_writes_nothing(db_url: str) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(1))
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))
    release_claims(store, BatchClaim(plan_id, "run", "token", (), {}, ()))
    assert statements == []


def test_each_run_gets_its_own_claimer_id() -> None:
    first, second = claimer_id(), claimer_id()
    host, pid, nonce = first.split(":")
    assert (host, pid, len(nonce)) == (socket.gethostname(), str(os.getpid()), 8)
    assert first != second
