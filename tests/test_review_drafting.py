"""Running the AI's share of a plan: dependency order, batching, provenance, crash and resume."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coassist.llm import GenerationSettings, load_chat_model
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
from coassist.review.schema import Draft
from tests.test_review_support import ScriptedModel, independent_plan, small_plan

REPO = Path(__file__).resolve().parents[1]
QUIET = DraftingConfig(progress=False)


def _drafts(db: Path) -> list[tuple[str, int, str]]:
    """(subtask key, draft id, text) for every draft, by key."""
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT s.key, d.id, d.text FROM drafts d JOIN subtasks s ON s.id = d.subtask_id ORDER BY s.key"
        ).fetchall()


def test_drafts_ready_subtasks_and_reports_the_waiting_ones(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
    plan_id = import_plan(store, *small_plan())
    model = ScriptedModel()
    report = draft_ai_subtasks(store, plan_id, model, QUIET)
    assert report.drafted == ("a", "e")  # generation 0, by planned start
    assert report.already_drafted == ()
    assert report.waiting == {"b": ("a",), "d": ("c",)}
    assert [len(batch) for batch in model.batches] == [2]
    assert [(k, t) for k, _, t in _drafts(tmp_path / "r.db")] == [
        ("a", "draft of Load sales"),
        ("e", "draft of Count rows"),
    ]


def test_each_draft_carries_its_provenance(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
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
    assert draft.provenance["generation"] == {"max_new_tokens": 64, "temperature": 0.0, "top_p": 0.95}
    assert draft.provenance["batch_size"] == 2 and draft.provenance["device"] == "cpu"
    assert 0 <= draft.seconds <= draft.provenance["batch_seconds"]
    assert draft.created_at is not None


def test_dependents_are_drafted_from_finished_results_on_the_next_run(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
    plan_id = import_plan(store, *small_plan())
    draft_ai_subtasks(store, plan_id, ScriptedModel(), QUIET)
    draft_a = next(d for k, d, _ in _drafts(tmp_path / "r.db") if k == "a")
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


def test_long_dependency_results_are_cut_to_the_budget(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
    plan_id = import_plan(store, *small_plan())
    (interviews,) = work_items(store, worker="ana")
    submit_work(store, interviews.id, "x" * 500)
    model = ScriptedModel()
    draft_ai_subtasks(store, plan_id, model, DraftingConfig(dependency_chars=40, progress=False))
    prompt_d = next(c[0]["content"] for c in model.batches[0] if "Write summary" in c[0]["content"])
    assert "\n" + "x" * 40 + " [...]\n" in prompt_d


def test_batches_are_committed_before_the_hook_runs(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    plan_id = import_plan(store, *independent_plan(5))
    seen: list[tuple[list[str], int]] = []

    def hook(saved: list[SavedDraft]) -> None:
        seen.append(([s.subtask for s in saved], len(_drafts(db))))  # read by another connection

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


def _racing_model(other, plan_id: int, rival_reports: list):  # type: ignore[no-untyped-def]
    """A model whose first batch starts another run (its own connection) on the same plan."""

    class Racing(ScriptedModel):
        def generate_batch(self, conversations, settings):  # type: ignore[no-untyped-def]
            if not self.batches:
                rival = ScriptedModel()
                rival.generate_batch = lambda c, s: ["rival's draft"] * len(c)  # type: ignore[method-assign]
                rival_reports.append(
                    draft_ai_subtasks(other, plan_id, rival, DraftingConfig(batch_size=1, progress=False))
                )
            return super().generate_batch(conversations, settings)

    return Racing()


def test_two_drafters_at_once_never_store_two_drafts_of_a_subtask(tmp_path: Path) -> None:
    """While this run generates, another run drafts and commits them all first: this run's lease
    has lapsed (a run slower than its lease), so only the unique draft keeps the second out."""
    db = tmp_path / "r.db"
    store = open_store(str(db))
    plan_id = import_plan(store, *independent_plan(3))
    other = open_store(str(db))

    lapsed = DraftingConfig(batch_size=3, progress=False, claim_seconds=1e-6)
    report = draft_ai_subtasks(store, plan_id, _racing_model(other, plan_id, []), lapsed)
    assert report.drafted == ()  # every one of its drafts lost the race and was dropped
    assert [(k, t) for k, _, t in _drafts(db)] == [(k, "rival's draft") for k in ("t0", "t1", "t2")]


def test_a_second_drafter_skips_what_the_first_claimed_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    plan_id = import_plan(store, *independent_plan(3))
    other = open_store(str(db))

    rival_reports: list = []
    report = draft_ai_subtasks(store, plan_id, _racing_model(other, plan_id, rival_reports), QUIET)
    (rival,) = rival_reports
    assert report.drafted == ("t0", "t1", "t2") and report.claimed_elsewhere == {}
    assert rival.drafted == () and sorted(rival.claimed_elsewhere) == ["t0", "t1", "t2"]
    holder = rival.claimed_elsewhere["t0"]
    assert holder.startswith(f"{socket.gethostname()}:{os.getpid()}:") and " until " in holder
    assert [(k, t) for k, _, t in _drafts(db)] == [(k, f"draft of Task {k[1]}") for k in ("t0", "t1", "t2")]
    with sqlite3.connect(db) as connection:  # every claim given back
        assert connection.execute(
            "SELECT count(*) FROM assignments WHERE claimed_by IS NOT NULL"
        ).fetchone() == (0,)


def test_a_failed_batch_gives_its_claims_back(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "r.db"))
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


def test_killed_drafting_loses_nothing_and_rerun_repeats_nothing(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    db = tmp_path / "r.db"
    store = open_store(str(db))
    plan_id = import_plan(store, *independent_plan(8))
    child = subprocess.Popen(
        [sys.executable, "-c", _DRAFT_SLOWLY, str(db), str(tiny_model_dir), str(plan_id)],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while len(_drafts(db)) < 3:
            assert child.poll() is None, "the drafting process ended before it was killed"
            assert time.monotonic() < deadline, "the drafting process saved no 3 drafts in 60 s"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    before = _drafts(db)
    assert 3 <= len(before) < 8  # killed in the middle

    model = load_chat_model(str(tiny_model_dir), device="cpu")
    config = DraftingConfig(batch_size=3, generation=GenerationSettings(max_new_tokens=6), progress=False)
    report = draft_ai_subtasks(store, plan_id, model, config)
    after = _drafts(db)
    keys = [f"t{i}" for i in range(8)]
    assert [k for k, _, _ in after] == keys  # exactly one draft per subtask
    assert set(report.already_drafted) == {k for k, _, _ in before}
    assert sorted(report.drafted) == sorted(set(keys) - set(report.already_drafted))
    assert [row for row in after if row[0] in report.already_drafted] == before  # kept as they were
    created = [e.detail["subtask"] for e in audit_trail(store, entity="draft") if e.action == "draft.created"]
    assert sorted(created) == keys
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize("size", [0, -1])
def test_config_refuses_a_batch_size_below_one(size: int) -> None:
    with pytest.raises(ValueError, match=f"batch_size must be at least 1, got {size}"):
        DraftingConfig(batch_size=size)
