"""The scheduling agent: one per AI worker of a plan, drafting its subtasks as they unblock and
re-planning the rest when the trail says something changed.

Each turn of the loop (`Agent.step`):

1. notice agents whose heartbeat stopped (`presence.mark_lost`: a re-plan trigger), unless its
   own heartbeat had a gap less than a lease ago, and learn from new decisions (`learning.py`:
   the router, off by default; fine-tune suggestions);
2. re-plan when a trigger is pending and none arrived for `replan_debounce_seconds` (a burst of
   decisions makes one re-plan, not one each), or the first one waited `replan_max_wait_seconds`;
3. claim the next batch of its worker's ready subtasks, draft them with the model in one
   `generate_batch` (the review layer's `claim_batch` / `generate_drafts` / `save_drafts` /
   `release_claims`, the heartbeat extending the claim meanwhile), and commit them under the
   claim. A claim lost while the agent was away past its lease (`ClaimLost`) drops the batch,
   in one log line, and the agent goes on.

When a turn finds nothing to do the agent waits, twice as long each idle turn up to
`max_poll_seconds`, and polls again; on PostgreSQL a notification of any change ends the wait
at once (`wakeup.py`). A stop request
(`stop()`, SIGTERM in the CLI) is honoured between steps: the batch in flight is finished and
committed, its claims released, and the agent signs off. A killed agent loses at most that
batch: its claims lapse one lease after its last heartbeat and another agent drafts them.

A database that stops answering (a restart, a failover) is ridden out (`outage.py`): one log
line when it goes and one when it is back, each unit of work tried again with backoff (a batch
already generated is kept and saved once the database answers, through its claim's fence), and
only after `give_up_seconds` of outage does `run` raise `DatabaseUnreachable`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from coassist.agent import presence
from coassist.agent.learning import Learner, LearningConfig
from coassist.agent.outage import Outage, is_outage
from coassist.agent.replanning import StoredReplan, pending_triggers, replan_stored
from coassist.agent.state import read_plan_state
from coassist.agent.wakeup import Nap, Wakeup, wakeup_for
from coassist.errors import ClaimLost, CoassistError, InvalidOption, NotInStore
from coassist.llm.chat import ChatModel
from coassist.plan.model import AllocateOptions
from coassist.review.drafting import (
    BatchClaim,
    DraftingConfig,
    SavedDraft,
    claim_batch,
    claimer_id,
    generate_drafts,
    ready_ai_subtasks,
    release_claims,
    save_drafts,
)
from coassist.review.schema import Plan, Worker
from coassist.review.store import ReviewStore, open_store

log = logging.getLogger("coassist.agent")

T = TypeVar("T")


@dataclass(frozen=True)
class AgentConfig:
    """How an agent drafts, leases, polls and re-plans.

    Attributes
    ----------
    drafting:
        Batch size, generation settings and prompt budget of each batch (as `draft_ai_subtasks`
        takes them); its `claim_seconds` is ignored: the agent's lease is `lease_seconds`.
    lease_seconds:
        How long a claim and the agent's liveness last without a heartbeat (it beats four times
        a lease). A killed agent's claims are drafted by another one this long after.
    max_poll_seconds:
        The longest sleep between two polls of an idle agent.
    replan_debounce_seconds, replan_max_wait_seconds:
        A re-plan waits until no trigger arrived for the first, but never longer than the second.
    replan_time_limit:
        The solver's limit for one re-plan: a person is waiting. Reading the plan, scheduling
        and storing the result add about 2 s at 2,000 subtasks, and the warm start is within
        about 0.1% of optimal by then (docs/planning.md, `benchmarks/agent.py`).
    until_done:
        Stop by itself once every subtask of the plan is done and every trigger answered (a
        batch job, or a test).
    give_up_seconds:
        How long the database may stay unreachable (a restart, a failover) before `run` raises
        `DatabaseUnreachable` (the CLI then exits with code 75). Until then the agent retries,
        saying so once per outage.
    learning:
        Router retraining (off by default) and fine-tune suggestions (`coassist.agent.learning`).
    """

    drafting: DraftingConfig = field(default_factory=lambda: DraftingConfig(progress=False))
    lease_seconds: float = 60.0
    max_poll_seconds: float = 5.0
    replan_debounce_seconds: float = 2.0
    replan_max_wait_seconds: float = 30.0
    replan_time_limit: float = 3.0
    until_done: bool = False
    give_up_seconds: float = 300.0
    learning: LearningConfig = field(default_factory=LearningConfig)

    def __post_init__(self) -> None:
        for name in (
            "lease_seconds",
            "max_poll_seconds",
            "replan_max_wait_seconds",
            "replan_time_limit",
            "give_up_seconds",
        ):
            _positive(name, getattr(self, name))
        if not (math.isfinite(self.replan_debounce_seconds) and self.replan_debounce_seconds >= 0):
            raise InvalidOption(
                "replan_debounce_seconds", f"must be 0 or more seconds, got {self.replan_debounce_seconds!r}"
            )


def _positive(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise InvalidOption(name, f"must be a positive number of seconds, got {value!r}")


@dataclass
class AgentReport:
    """What an agent did since it started."""

    drafted: list[str] = field(default_factory=list)
    replans: list[StoredReplan] = field(default_factory=list)
    batches: int = 0


class Agent:
    """Drafts the subtasks a plan gives AI worker `worker`, and re-plans when needed.

    Parameters
    ----------
    store:
        The review database: a `ReviewStore` or its URL (a team's PostgreSQL, or an SQLite file).
    worker:
        The AI worker of the plan this agent drafts for (several agents may serve one worker).
    model:
        The `ChatModel` that drafts, or a model spec (`load_chat_model` loads it once).
    plan_id:
        The plan; default the newest plan that has AI worker `worker`.
    config:
        See `AgentConfig`.

    Raises
    ------
    NotInStore
        No such plan, or no plan with this AI worker (the message lists the AI workers known).
    DatabaseUnreachable
        (from `run` and `run_once`) The database stayed away longer than `give_up_seconds`.
    """

    def __init__(
        self,
        store: ReviewStore | str,
        worker: str,
        model: ChatModel | str,
        plan_id: int | None = None,
        config: AgentConfig | None = None,
    ) -> None:
        self.store = store if isinstance(store, ReviewStore) else open_store(store)
        self.worker = worker
        self.config = config or AgentConfig()
        self.plan_id = _plan_for(self.store, worker, plan_id)
        self.id = claimer_id()
        self.report = AgentReport()
        self._learner = Learner(self.store, self.plan_id, self.config.learning, f"agent:{self.id}")
        self._model = model
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle_seconds = 0.0
        self._first_trigger_at: float | None = None
        self._last_trigger: int | None = None
        self._quiet_since = 0.0
        self._runs = 0
        self._wakeup: Wakeup = Nap()
        self._heartbeat: presence.Heartbeat | None = None
        self._outage = Outage(self.store.url, self.config.give_up_seconds, self._fields)
        self._failed: set[str] = set()
        """Subtasks whose batch failed to generate; this agent leaves them (they stay ready)."""
        self.on_batch: Callable[[list[str], list[str]], None] | None = None
        """Called after each batch with the subtasks generated and those stored."""

    @property
    def model(self) -> ChatModel:
        if isinstance(self._model, str):
            from coassist.llm import load_chat_model

            self._model = load_chat_model(self._model)
        return self._model

    def run(self) -> AgentReport:
        """Work until `stop()` (or, with `until_done`, until the plan is finished); blocking."""
        try:
            with self._on_duty():
                while not self._stop.is_set() and self._through_outages(self._turn):
                    pass
        except _StoppedInOutage:
            pass
        return self.report

    def run_once(self) -> AgentReport:
        """Draft everything of its worker's that is ready now (re-planning first if a trigger is
        pending, without waiting for the debounce), then sign off. For cron jobs and scripts."""
        try:
            with self._on_duty():
                while not self._stop.is_set() and self._through_outages(lambda: self.step(debounce=False)):
                    pass
        except _StoppedInOutage:
            pass
        return self.report

    def _turn(self) -> bool:
        """One turn of `run`: a step, then the idle wait if it did nothing; False once the plan
        is done and `until_done` says to stop."""
        if self.step():
            self._idle_seconds = 0.0
            return True
        if self.config.until_done and self._plan_done() and not pending_triggers(self.store, self.plan_id):
            return False
        self._idle_seconds = min(max(self._idle_seconds * 2, 0.05), self.config.max_poll_seconds)
        if self._wakeup.wait(self._idle_seconds, self._stop):
            self._idle_seconds = 0.0  # something changed: look at once
        return True

    def _through_outages(self, action: Callable[[], T]) -> T:
        """`action()`, tried again while the database does not answer (backing off; the outage
        logged once) until it does.

        Raises
        ------
        DatabaseUnreachable
            The outage lasted `give_up_seconds`.
        _StoppedInOutage
            A stop was asked for during the outage (what `action` would have done is not done).
        """
        while True:
            started = time.monotonic()
            try:
                result = action()
            except SQLAlchemyError as error:
                if not is_outage(error):
                    raise
                self._outage.failed(error)
                if self._stop.wait(self._outage.next_wait()):
                    raise _StoppedInOutage from None
                continue
            self._outage.recovered(started)
            return result

    def _if_reachable(self, action: Callable[[], None]) -> None:
        """`action()` once, if the database answers; if not, the outage is noted and what
        `action` would have done is left to the lease (a release, a sign-off)."""
        try:
            action()
        except SQLAlchemyError as error:
            if not is_outage(error):
                raise
            self._outage.failed(error)

    @contextmanager
    def _on_duty(self) -> Iterator[None]:
        """Registered and beating while the block runs; signed off after, however it ends."""
        model = self.model  # load before registering: a slow load must not look like a lost agent
        if self._runs:  # each run is a presence of its own (its claims, its heartbeat, its row)
            self.id = claimer_id()
            self._learner.actor = f"agent:{self.id}"
        self._runs += 1
        self._through_outages(
            lambda: presence.register(
                self.store, self.id, self.plan_id, self.worker, model.spec, self.config.lease_seconds
            )
        )
        heartbeat = presence.Heartbeat(self.store, self.id, self.config.lease_seconds, self._outage)
        heartbeat.start()
        self._heartbeat = heartbeat
        self._wakeup = wakeup_for(self.store, f"coassist-agent {self.id}")
        log.info("agent started", extra=self._fields(event="started", model=model.spec))
        try:
            yield
        finally:
            self._wakeup.close()
            heartbeat.stop()
            self._heartbeat = None
            self._if_reachable(lambda: presence.sign_off(self.store, self.id, self.plan_id))
            log.info(
                "agent stopped",
                extra=self._fields(
                    event="stopped", drafted=len(self.report.drafted), replans=len(self.report.replans)
                ),
            )

    def start(self) -> Agent:
        """Run in a daemon thread (from a notebook or a server); `stop()` ends it. An error the
        agent stops on (the database gone for good) is logged in one line."""
        if self.running:
            raise InvalidOption("start", "this agent is running already; stop() it first")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_logged, name=f"coassist-agent-{self.worker}", daemon=True)
        self._thread.start()
        return self

    def _run_logged(self) -> None:
        try:
            self.run()
        except CoassistError as error:
            log.error("agent stopped: %s", error, extra=self._fields(event="failed"))

    def request_stop(self) -> None:
        """Ask the agent to stop after the step in flight (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the step in flight (a batch is finished and committed) and wait for it."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def step(self, debounce: bool = True) -> bool:
        """One turn: notice lost agents, learn from new decisions, re-plan if due, draft one
        batch. True if it did anything. `debounce=False` re-plans on a pending trigger at once
        (`run_once`: nobody waits for a burst to end)."""
        did = self._judges_others() and bool(presence.mark_lost(self.store, self.plan_id, self.id))
        did = self._learner.step() or did
        did = self._replan_if_due(debounce) or did
        return self._draft_one_batch() or did

    def _judges_others(self) -> bool:
        """Whether this agent may call others lost: not until a lease after a gap in its own
        heartbeat, so that after its own pause or a database outage (which leaves every
        heartbeat old at once) the others have had a lease to beat again."""
        heartbeat = self._heartbeat
        return heartbeat is None or heartbeat.since_gap() >= self.config.lease_seconds

    def _replan_if_due(self, debounce: bool) -> bool:
        triggers = pending_triggers(self.store, self.plan_id)
        if not triggers:
            self._first_trigger_at = self._last_trigger = None
            return False
        now = time.monotonic()
        newest = triggers[-1][0]
        if newest != self._last_trigger:
            self._last_trigger, self._quiet_since = newest, now
            self._first_trigger_at = self._first_trigger_at or now
        quiet = not debounce or now - self._quiet_since >= self.config.replan_debounce_seconds
        waited = now - (self._first_trigger_at or now) >= self.config.replan_max_wait_seconds
        if not (quiet or waited):
            return False
        started = time.perf_counter()
        stored = replan_stored(
            self.store,
            self.plan_id,
            f"agent:{self.id}",
            AllocateOptions(time_limit=self.config.replan_time_limit),
            router=self._learner.router,
        )
        self._first_trigger_at = self._last_trigger = None
        if stored is None:
            log.debug("re-plan dropped: the plan changed meanwhile", extra=self._fields(event="replan_stale"))
            return True  # read the new state next turn
        self.report.replans.append(stored)
        log.info(
            "re-planned",
            extra=self._fields(
                event="replanned",
                version=stored.version,
                triggers=list(stored.triggers),
                moved=len(stored.diff.moves),
                infeasible=stored.diff.why_not is not None,
                seconds=round(time.perf_counter() - started, 3),
            ),
        )
        return True

    def _draft_one_batch(self) -> bool:
        """Claim and draft the next batch of this worker's ready subtasks that nobody holds.

        One read of the plan per batch (`ready_ai_subtasks`): an agent's own overhead must stay
        small next to generation, even on a plan of thousands of subtasks."""
        ready = [
            task
            for task in ready_ai_subtasks(self.store, self.plan_id).ready
            if task.worker == self.worker and task.claimed_by is None and task.key not in self._failed
        ]
        if not ready:
            return False
        window = ready[: self.config.drafting.batch_size]
        claim = claim_batch(self.store, self.plan_id, window, self.id, self.config.lease_seconds)
        if not claim.subtasks:
            return bool(window)  # others hold them: look again soon
        started = time.perf_counter()
        generated = [task.key for task in claim.subtasks]
        heartbeat = self._heartbeat
        if heartbeat is not None:
            heartbeat.claim = claim
        try:
            saved = self._drafted(claim)
        finally:
            if heartbeat is not None:
                heartbeat.claim = None
            # Unless the database is away: then the claim lapses within a lease, unextended.
            self._if_reachable(lambda: release_claims(self.store, claim))
        if saved is None:
            return True
        stored = [draft.subtask for draft in saved]
        self._through_outages(lambda: presence.count_drafts(self.store, self.id, len(stored)))
        self.report.drafted += stored
        self.report.batches += 1
        log.info(
            "drafted a batch",
            extra=self._fields(
                event="drafted",
                generated=generated,
                stored=stored,
                seconds=round(time.perf_counter() - started, 3),
            ),
        )
        if self.on_batch is not None:
            self.on_batch(generated, stored)
        return True

    def _drafted(self, claim: BatchClaim) -> list[SavedDraft] | None:
        """The claim's batch generated and stored under it (the save tried again through an
        outage, so generated work is not lost to a database restart); None, logged in one line,
        when the model failed or the claim was lost meanwhile."""
        keys = [task.key for task in claim.subtasks]
        try:
            batch = generate_drafts(self.model, claim, self.config.drafting)
        except CoassistError as error:
            # One subtask the model cannot take (a prompt longer than its context, an endpoint
            # refusing) must not stop the agent: skip the batch's subtasks and say so.
            self._failed.update(keys)
            log.error(
                "could not draft a batch",
                extra=self._fields(event="draft_failed", subtasks=keys, error=str(error)),
            )
            return None
        try:
            return self._through_outages(lambda: save_drafts(self.store, batch))
        except ClaimLost as lost:
            log.warning(
                "claim lost: batch dropped",
                extra=self._fields(event="claim_lost", subtasks=keys, now=lost.lost),
            )
            return None

    def _plan_done(self) -> bool:
        return all(
            view.state == "done" for view in read_plan_state(self.store, self.plan_id).subtasks.values()
        )

    def _fields(self, **values: object) -> dict[str, object]:
        return {"agent": self.id, "plan": self.plan_id, "worker": self.worker, **values}


class _StoppedInOutage(Exception):
    """A stop was asked for while the database was away: the agent ends without the work it
    could not store (its claims lapse within a lease)."""


def _plan_for(store: ReviewStore, worker: str, plan_id: int | None) -> int:
    """The plan the agent serves: `plan_id` if it has AI worker `worker`, else the newest that does."""
    with store.session() as session:
        query = select(Worker.plan_id).where(Worker.key == worker, Worker.kind == "ai")
        if plan_id is not None:
            if session.get(Plan, plan_id) is None:
                known = session.scalars(select(Plan.id).order_by(Plan.id)).all()
                raise NotInStore("plan", plan_id, f"Known plans: {list(known) or 'none yet; import one'}.")
            query = query.where(Worker.plan_id == plan_id)
        found = session.scalars(query.order_by(Worker.plan_id.desc()).limit(1)).first()
        if found is None:
            ai = sorted(set(session.scalars(select(Worker.key).where(Worker.kind == "ai"))))
            where = f"plan {plan_id}" if plan_id is not None else "any plan"
            raise NotInStore(
                "AI worker", worker, f"{where} has none by that name. AI workers: {', '.join(ai) or 'none'}."
            )
        return found
