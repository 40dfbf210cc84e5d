"""Show an answer in the cell output while it is generated, then render it once at the end.

Updates go through one display id, so the output is replaced in place rather than
appended. They are throttled: re-sending the whole text after every token would cost the
front end more than the model spends generating it.
"""

from __future__ import annotations

import time
from typing import Any

from IPython.display import display, update_display

# 20 updates a second reads as smooth streaming and stays far below what the front end handles.
DEFAULT_MIN_INTERVAL = 0.05


class StreamingDisplay:
    """A cell output that grows with the answer.

    `min_interval` caps the update rate (seconds between updates); the final `finish`
    always updates, so the last words are never lost to throttling.
    """

    def __init__(self, min_interval: float | None = None) -> None:
        self.min_interval = DEFAULT_MIN_INTERVAL if min_interval is None else min_interval
        self.text = ""
        self.updates = 0
        self._last_update = 0.0
        handle = display({"text/plain": "…"}, raw=True, display_id=True)
        self.display_id: str = handle.display_id if handle is not None else ""

    def append(self, piece: str) -> None:
        self.text += piece
        now = time.monotonic()
        if now - self._last_update >= self.min_interval:
            self._show({"text/plain": self.text + " ▌"}, {})
            self._last_update = now

    def finish(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self._show(data, metadata)

    def _show(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self.updates += 1
        if self.display_id:
            update_display(data, raw=True, display_id=self.display_id, metadata=metadata)
