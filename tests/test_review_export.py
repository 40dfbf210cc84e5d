"""Training data from decisions: SFT conversations and router labels, with exact contents."""

from __future__ import annotations

import json
from pathlib import Path

from coassist.review import (
    DraftingConfig,
    decide,
    draft_ai_subtasks,
    export_router_labels,
    export_sft_jsonl,
    import_plan,
    open_store,
    review_queue,
)
from tests.test_review_support import ScriptedModel, independent_plan, small_plan


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_exports_hold_exactly_the_decided_drafts(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    plan_id = import_plan(store, *independent_plan(4), project="demo")
    draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    ids = {item.subtask: item.draft_id for item in review_queue(store)}
    decide(store, ids["t2"], "ana", "approve")
    decide(store, ids["t0"], "ana", "edit", edited_text="Task 0, done properly — ünïcode kept")
    decide(store, ids["t1"], "ana", "reject")
    # t3 stays pending: in neither file

    assert export_sft_jsonl(store, tmp_path / "out" / "sft.jsonl") == 2
    sft = _read(tmp_path / "out" / "sft.jsonl")
    assert [row["messages"][-1] for row in sft] == [
        {"role": "assistant", "content": "draft of Task 2"},
        {"role": "assistant", "content": "Task 0, done properly — ünïcode kept"},
    ]
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]
    assert "Subtask: Task 2\nSkill: python" in sft[0]["messages"][0]["content"]

    assert export_router_labels(store, tmp_path / "router.jsonl") == 3
    labels = _read(tmp_path / "router.jsonl")
    assert [(r["subtask"], r["decision"], r["label"]) for r in labels] == [
        ("t2", "approve", 1),
        ("t0", "edit", 0),
        ("t1", "reject", 0),
    ]
    assert labels[0] == {
        "text": "Task 2",
        "label": 1,
        "skill": "python",
        "subtask": "t2",
        "decision": "approve",
        "p_pass": 0.5,
        "draft_id": ids["t2"],
        "reviewer": "ana",
    }


def test_exports_filter_by_plan_and_project(db_url: str, tmp_path: Path) -> None:
    store = open_store(db_url)
    first = import_plan(store, *small_plan(), project="sales")
    second = import_plan(store, *independent_plan(2), project="other")
    for plan_id in (first, second):
        draft_ai_subtasks(store, plan_id, ScriptedModel(), DraftingConfig(progress=False))
    for item in review_queue(store):
        decide(store, item.draft_id, "ana", "approve")

    assert export_router_labels(store, tmp_path / "all.jsonl") == 4
    assert export_router_labels(store, tmp_path / "sales.jsonl", project="sales") == 2
    assert {r["subtask"] for r in _read(tmp_path / "sales.jsonl")} == {"a", "e"}
    assert _read(tmp_path / "sales.jsonl")[0]["text"] in {"Load sales\n\nRead sales.csv", "Count rows"}
    assert export_sft_jsonl(store, tmp_path / "p2.jsonl", plan_id=second) == 2
    assert export_sft_jsonl(store, tmp_path / "none.jsonl", project="nobody") == 0
    assert (tmp_path / "none.jsonl").read_text() == ""
