"""What an agent learns from the team's decisions while it runs.

- **The router** (off by default): after every `router_every` new decisions on the plan's
  drafts, the agent exports them as router labels, trains the p_pass router
  (`coassist.train.router_training.train_router`: the MiniLM classifier, or the per-skill prior
  while there are too few labels) and hands it to the next re-plans, so work goes to the AI
  where its drafts actually pass. Recorded as ``router.retrained`` with the trainer's message.
- **A fine-tune suggestion**: once `finetune_hint_every` approved or edited drafts have come in
  since the last suggestion, the agent says so (the log and ``finetune.suggested`` in the trail,
  with the commands). Retraining the assistant itself stays a person's decision: an adapter has
  to prove itself on held-out data (`coassist finetune` reports it) before anyone switches.

Counts come from the store (the trail's last event of each kind), so a restarted agent goes on
where the last one stopped.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from coassist.errors import InvalidOption
from coassist.plan.model import PassRouter
from coassist.review.audit import record
from coassist.review.export import export_router_labels
from coassist.review.schema import AuditEvent, Draft, Review
from coassist.review.store import ReviewStore

log = logging.getLogger("coassist.agent")


@dataclass(frozen=True)
class LearningConfig:
    """`router_every`: retrain the router after this many new decisions (None: never, the
    default); `router_dir`: where to keep it (None: in memory only); `finetune_hint_every`:
    suggest a fine-tune after this many new approved or edited drafts (None: never)."""

    router_every: int | None = None
    router_dir: Path | None = None
    finetune_hint_every: int | None = 50

    def __post_init__(self) -> None:
        for name in ("router_every", "finetune_hint_every"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InvalidOption(
                    name, f"must be a whole number of decisions >= 1, or None for never; got {value!r}"
                )


class Learner:
    """Counts a plan's decisions and acts on `LearningConfig`; `router` is what re-plans use."""

    def __init__(self, store: ReviewStore, plan_id: int, config: LearningConfig, actor: str) -> None:
        self.store = store
        self.plan_id = plan_id
        self.config = config
        self.actor = actor
        self.router: PassRouter | None = None

    def step(self) -> bool:
        """Retrain or suggest when due; True if it did."""
        did = False
        if self.config.router_every is not None:
            decided = self._count(
                select(func.count()).select_from(Review).join(Draft, Review.draft_id == Draft.id)
            )
            if decided - self._last("router.retrained") >= self.config.router_every:
                self._retrain(decided)
                did = True
        if self.config.finetune_hint_every is not None:
            accepted = self._count(
                select(func.count()).select_from(Draft).where(Draft.status.in_(("approved", "edited")))
            )
            if accepted - self._last("finetune.suggested") >= self.config.finetune_hint_every:
                self._suggest(accepted)
                did = True
        return did

    def _count(self, query) -> int:  # type: ignore[no-untyped-def]
        with self.store.session() as session:
            return int(session.scalar(query.where(Draft.plan_id == self.plan_id)) or 0)

    def _last(self, action: str) -> int:
        """The count recorded with the plan's latest `action` event (0 before the first)."""
        with self.store.session() as session:
            detail = session.scalar(
                select(AuditEvent.detail)
                .where(
                    AuditEvent.action == action,
                    AuditEvent.entity == "plan",
                    AuditEvent.entity_id == self.plan_id,
                )
                .order_by(AuditEvent.id.desc())
                .limit(1)
            )
        return int((detail or {}).get("count", 0))

    def _retrain(self, decided: int) -> None:
        from coassist.train.router_training import RouterTrainingConfig, train_router

        with tempfile.TemporaryDirectory(prefix="coassist-router-") as scratch:
            labels = Path(scratch) / "labels.jsonl"
            export_router_labels(self.store, labels, plan_id=self.plan_id)
            result = train_router(RouterTrainingConfig(labels=labels, output_dir=self.config.router_dir))
        self.router = result.router
        brier = result.metrics.brier if result.metrics is not None else None
        with self.store.session() as session:
            record(
                session,
                self.actor,
                "router.retrained",
                "plan",
                self.plan_id,
                count=decided,
                fallback=result.used_fallback,
                message=result.message,
                saved_to=str(self.config.router_dir) if self.config.router_dir else None,
                brier=None if brier is None or not math.isfinite(brier) else brier,
            )
        log.info(
            "router retrained",
            extra={
                "event": "router_retrained",
                "plan": self.plan_id,
                "decisions": decided,
                "fallback": result.used_fallback,
            },
        )

    def _suggest(self, accepted: int) -> None:
        commands = (
            f'python -c "from coassist.review import open_store, export_sft_jsonl; '
            f"export_sft_jsonl(open_store('<db>'), 'sft.jsonl', plan_id={self.plan_id})\" && "
            "coassist finetune --data sft.jsonl --out adapters/next"
        )
        with self.store.session() as session:
            record(
                session,
                self.actor,
                "finetune.suggested",
                "plan",
                self.plan_id,
                count=accepted,
                commands=commands,
            )
        log.info(
            f"{accepted} approved or edited drafts on plan {self.plan_id}: worth a fine-tune ({commands})",
            extra={"event": "finetune_suggested", "plan": self.plan_id, "accepted": accepted},
        )
