"""The scheduling agent: AI workers draft their subtasks as they unblock, decisions and capacity
changes re-plan the rest, and everyone sees where the plan stands.

>>> from coassist.agent import Agent, AgentConfig
>>> agent = Agent("postgresql+psycopg://team@db/coassist", worker="gpu0", model="smollm2")  # doctest: +SKIP
>>> agent.start()  # doctest: +SKIP

Layering: above `coassist.review`, `coassist.plan` and `coassist.llm`; nothing below imports it.
"""

from __future__ import annotations

from coassist.agent.replanning import StoredReplan, pending_triggers, replan_stored
from coassist.agent.runner import Agent, AgentConfig, AgentReport
from coassist.agent.state import PlanState, SubtaskState, SubtaskView, read_plan_state

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentReport",
    "PlanState",
    "StoredReplan",
    "SubtaskState",
    "SubtaskView",
    "pending_triggers",
    "read_plan_state",
    "replan_stored",
]
