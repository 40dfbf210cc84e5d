"""Run the AI's share of a plan: draft each AI-assigned subtask, in dependency order, in batches.

Each batch is committed as soon as it is generated, and a (plan, subtask) pair can hold only one
draft, so killing the process loses at most the batch being generated and a rerun drafts only
what is missing. A subtask waits (and is reported) until every subtask it depends on is finished:
its draft approved or edited, or a person's work on it submitted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from tqdm.auto import tqdm

from coassist.llm.chat import ChatModel, GenerationSettings, Message
from coassist.review.audit import record
from coassist.review.outputs import finished_outputs
from coassist.review.plans import plan_project
from coassist.review.prompts import DependencyResult, draft_messages
from coassist.review.schema import Assignment, Draft, Subtask, Worker
from coassist.review.store import ReviewStore


@dataclass(frozen=True)
class DraftingConfig:
    """How to run the AI's share of a plan.

    Attributes
    ----------
    batch_size:
        Subtasks generated together by `ChatModel.generate_batch` and committed together. On a
        GPU larger batches raise throughput; a crash loses at most one batch of work.
    generation:
        Length and sampling of each draft (greedy by default: the same prompt, the same draft).
    dependency_chars:
        Longest slice of each dependency's result put into a prompt, so prompts fit the context.
    progress:
        Show a tqdm progress bar.
    """

    batch_size: int = 8
    generation: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_new_tokens=256))
    dependency_chars: int = 2000
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.dependency_chars < 0:
            raise ValueError(f"dependency_chars must be 0 or more, got {self.dependency_chars}")


@dataclass(frozen=True)
class SavedDraft:
    """A draft just committed; handed to the `on_batch` hook."""

    draft_id: int
    subtask: str
    text: str
    seconds: float


@dataclass(frozen=True)
class DraftingReport:
    """What one drafting run did, by subtask id.

    `waiting` maps each subtask that could not be drafted yet to the dependencies not finished.
    """

    drafted: tuple[str, ...]
    already_drafted: tuple[str, ...]
    waiting: Mapping[str, tuple[str, ...]]
    seconds: float


def draft_ai_subtasks(
    store: ReviewStore,
    plan_id: int,
    model: ChatModel,
    config: DraftingConfig | None = None,
    on_batch: Callable[[list[SavedDraft]], None] | None = None,
) -> DraftingReport:
    """Draft every AI-assigned subtask of a plan that is ready and not drafted yet.

    Parameters
    ----------
    store, plan_id:
        The database and the plan (from `import_plan`).
    model:
        Any `ChatModel`, e.g. ``load_chat_model("smollm2")``; its `describe()` is stored with
        every draft as provenance.
    config:
        Batch size, generation settings, prompt budget, progress bar.
    on_batch:
        Called after each batch is committed, with the drafts it saved.

    Notes
    -----
    Subtasks are visited in networkx topological generations of the plan's dependency graph,
    and within a generation by planned start hour. A draft's `seconds` is its batch's wall time
    divided by the batch size (the batch's own time and size are in its provenance).
    """
    config = config or DraftingConfig()
    started = time.perf_counter()
    project_id = plan_project(store, plan_id)
    with store.session() as session:
        tasks = {s.id: s for s in session.scalars(select(Subtask).where(Subtask.project_id == project_id))}
        ai_workers = set(
            session.scalars(select(Worker.key).where(Worker.plan_id == plan_id, Worker.kind == "ai"))
        )
        assignments = session.scalars(select(Assignment).where(Assignment.plan_id == plan_id)).all()
        drafted_ids = set(session.scalars(select(Draft.subtask_id).where(Draft.plan_id == plan_id)))
        outputs = finished_outputs(session, plan_id)
    by_key = {task.key: task for task in tasks.values()}
    start_hour = {a.subtask_id: a.start_hour for a in assignments if a.role == "do"}
    ai_ids = {a.subtask_id for a in assignments if a.role == "do" and a.worker in ai_workers}

    graph = nx.DiGraph()
    graph.add_nodes_from(start_hour)
    for subtask_id in start_hour:
        graph.add_edges_from((by_key[dep].id, subtask_id) for dep in tasks[subtask_id].depends_on)
    ready: list[Subtask] = []
    already: list[str] = []
    waiting: dict[str, tuple[str, ...]] = {}
    for generation in nx.topological_generations(graph):
        for subtask_id in sorted(
            (i for i in generation if i in ai_ids), key=lambda i: (start_hour[i], tasks[i].key)
        ):
            task = tasks[subtask_id]
            if subtask_id in drafted_ids:
                already.append(task.key)
                continue
            blocking = tuple(dep for dep in task.depends_on if by_key[dep].id not in outputs)
            if blocking:
                waiting[task.key] = blocking
            else:
                ready.append(task)

    description = model.describe()
    drafted: list[str] = []
    with tqdm(
        total=len(ready), desc=f"drafting plan {plan_id}", unit="draft", disable=not config.progress
    ) as bar:
        for offset in range(0, len(ready), config.batch_size):
            batch = ready[offset : offset + config.batch_size]
            conversations = [_messages(task, by_key, outputs, config) for task in batch]
            batch_started = time.perf_counter()
            texts = model.generate_batch(conversations, config.generation)
            batch_seconds = time.perf_counter() - batch_started
            saved = _save_batch(
                store, plan_id, model, description, config, batch, conversations, texts, batch_seconds
            )
            drafted.extend(s.subtask for s in saved)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(saved)
    return DraftingReport(tuple(drafted), tuple(already), waiting, time.perf_counter() - started)


def _messages(
    task: Subtask, by_key: dict[str, Subtask], outputs: dict[int, str], config: DraftingConfig
) -> list[Message]:
    dependencies = [
        DependencyResult(dep, by_key[dep].title, outputs[by_key[dep].id]) for dep in task.depends_on
    ]
    return draft_messages(task.title, task.description, task.skill, dependencies, config.dependency_chars)


def _save_batch(
    store: ReviewStore,
    plan_id: int,
    model: ChatModel,
    description: dict[str, Any],
    config: DraftingConfig,
    batch: list[Subtask],
    conversations: list[list[Message]],
    texts: list[str],
    batch_seconds: float,
) -> list[SavedDraft]:
    """Commit a batch's drafts in one transaction (with their audit rows)."""
    seconds = batch_seconds / len(batch)
    provenance = {
        **description,
        "generation": config.generation.as_dict(),
        "batch_size": len(batch),
        "batch_seconds": batch_seconds,
    }
    actor = f"model:{description.get('model', model.spec)}"

    def make(task: Subtask, messages: list[Message], text: str) -> Draft:
        return Draft(
            plan_id=plan_id,
            subtask_id=task.id,
            text=text,
            messages=messages,
            rendered_prompt=model.render_prompt(messages),
            model_spec=str(description.get("model", model.spec)),
            adapter=description.get("adapter"),
            provenance=provenance,
            p_pass=task.p_pass,
            seconds=seconds,
        )

    def store_drafts(session: Any, drafts: list[tuple[Subtask, Draft]]) -> list[SavedDraft]:
        session.add_all(draft for _, draft in drafts)
        session.flush()
        for task, draft in drafts:
            record(session, actor, "draft.created", "draft", draft.id, subtask=task.key, plan=plan_id)
        return [SavedDraft(draft.id, task.key, draft.text, seconds) for task, draft in drafts]

    rows = list(zip(batch, conversations, texts, strict=True))
    try:
        with store.session() as session:
            return store_drafts(session, [(task, make(task, m, t)) for task, m, t in rows])
    except IntegrityError:
        # Another process drafted some of these meanwhile: keep its drafts, store the rest.
        saved = []
        for task, messages, text in rows:
            try:
                with store.session() as session:
                    saved += store_drafts(session, [(task, make(task, messages, text))])
            except IntegrityError:
                continue
        return saved
