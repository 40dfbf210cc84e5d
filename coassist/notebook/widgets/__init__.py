"""Notebook widgets: one line each, all state in plain traits so they are testable without a browser.

from coassist.notebook.widgets import AllocationBoard, ChatWidget, ReviewQueueWidget, TeamStatusWidget
ChatWidget()                        # chat over the %%assist conversation
ReviewQueueWidget(reviewer="ana")   # approve / edit / reject AI drafts
TeamStatusWidget(store, plan_id)    # where a plan stands, live: agents, queues, forecast, re-plans
"""

from __future__ import annotations

from coassist.notebook.widgets.allocation_board import AllocationBoard
from coassist.notebook.widgets.chat import ChatWidget
from coassist.notebook.widgets.review_queue import DraftCard, ReviewQueueWidget
from coassist.notebook.widgets.team_status import TeamStatusWidget

__all__ = ["AllocationBoard", "ChatWidget", "DraftCard", "ReviewQueueWidget", "TeamStatusWidget"]
