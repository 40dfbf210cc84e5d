"""The review loop: store a plan, let the AI draft its share, let people decide, export what they taught.

>>> from coassist.review import open_store
>>> store = open_store("sqlite://")  # default: $COASSIST_DB or ~/.local/share/coassist/coassist.db
>>> review_queue(store)
[]

Typical use::

    store = open_store()
    plan_id = import_plan(store, subtasks_df, workers_df, plan_df, project="churn")
    draft_ai_subtasks(store, plan_id, load_chat_model("smollm2"), DraftingConfig(batch_size=16))
    for item in review_queue(store, reviewer="ana"):
        decide(store, item.draft_id, "ana", "approve", expected_version=item.version)
    export_sft_jsonl(store, "sft.jsonl"); export_router_labels(store, "router.jsonl")
"""

from __future__ import annotations

from coassist.review.audit import AuditEntry, audit_trail
from coassist.review.decisions import Decision, DecisionResult, decide
from coassist.review.drafting import DraftingConfig, DraftingReport, SavedDraft, draft_ai_subtasks
from coassist.review.export import export_router_labels, export_sft_jsonl
from coassist.review.plans import import_plan
from coassist.review.queue import QueueItem, review_queue, review_queue_frame
from coassist.review.store import ReviewStore, default_db_url, open_store
from coassist.review.work import WorkItemView, submit_work, work_items

__all__ = [
    "AuditEntry",
    "Decision",
    "DecisionResult",
    "DraftingConfig",
    "DraftingReport",
    "QueueItem",
    "ReviewStore",
    "SavedDraft",
    "WorkItemView",
    "audit_trail",
    "decide",
    "default_db_url",
    "draft_ai_subtasks",
    "export_router_labels",
    "export_sft_jsonl",
    "import_plan",
    "open_store",
    "review_queue",
    "review_queue_frame",
    "submit_work",
    "work_items",
]
