"""Show an answer in the cell output while it is generated, then render it once at the end.

Updates go through one display id, so the output is replaced in place rather than
appended. They are throttled: re-sending the whole text after every token would cost the
front end more than the model spends generating it. `Throttle` is that rate limit, shared
with the chat widget's transcript. How the text so far is shown is the caller's `partial`
(the magic renders Markdown, so an answer does not flip from raw Markdown to HTML at its end).

Before the first word, a slow step (the model's first load dequantises it for about 20 s)
can say what is happening in the same place: `StreamingDisplay.notice_while_slow`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.display import display, update_display

# 20 updates a second reads as smooth streaming and stays far below what the front end handles.
DEFAULT_MIN_INTERVAL = 0.05
# A cached load takes well under this: only a slow (first) load is announced, with no flash.
NOTICE_AFTER = 0.5
PLACEHOLDER = "…"


class Throttle:
    """Lets an update through at most once per `min_interval` seconds; the first always passes.

    Examples
    --------
    >>> ticks = iter([10.0, 10.01, 10.06, 10.07]).__next__
    >>> throttle = Throttle(0.05, clock=ticks)
    >>> [throttle.ready() for _ in range(4)]
    [True, False, True, False]
    """

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        """True when an update may go out now (and counts it as sent), False to skip this one."""
        now = self._clock()
        if self._last is not None and now - self._last < self.min_interval:
            return False
        self._last = now
        return True


def plain_partial(text: str) -> dict[str, str]:
    """The text so far as plain text, with a cursor where the next words come."""
    return {"text/plain": f"{text} ▌"}


class StreamingDisplay:
    """A cell output that grows with the answer.

    `min_interval` caps the update rate (seconds between updates); the final `finish`
    always updates, so the last words are never lost to throttling. `partial` turns the text
    so far into the output's mime bundle.
    """

    def __init__(
        self,
        min_interval: float | None = None,
        partial: Callable[[str], dict[str, str]] = plain_partial,
    ) -> None:
        self._throttle = Throttle(DEFAULT_MIN_INTERVAL if min_interval is None else min_interval)
        self._partial = partial
        self.text = ""
        self.updates = 0
        handle = display({"text/plain": PLACEHOLDER}, raw=True, display_id=True)
        self.display_id: str = handle.display_id if handle is not None else ""

    @property
    def min_interval(self) -> float:
        return self._throttle.min_interval

    def append(self, piece: str) -> None:
        self.text += piece
        if self._throttle.ready():
            self._show(self._partial(self.text), {})

    def finish(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self._show(data, metadata)

    def show_status(self, text: str) -> None:
        """Say what is happening in the answer's place; the next `append` or `finish` replaces it."""
        self._show({"text/plain": text}, {})

    @contextmanager
    def notice_while_slow(
        self, message: str, after: float = NOTICE_AFTER, every: float = 1.0
    ) -> Iterator[None]:
        """Show `message` with the seconds elapsed if the block takes longer than `after` seconds.

        The block runs on this (the kernel's main) thread, so Ctrl-C still interrupts it; a
        helper thread only refreshes the line every `every` seconds, and is joined before the
        block's caller goes on, so it never writes over the answer.
        """
        done = threading.Event()
        started = time.monotonic()
        shown = threading.Event()

        def tick() -> None:
            if done.wait(after):
                return
            while True:
                self.show_status(f"{message} {time.monotonic() - started:.0f} s")
                shown.set()
                if done.wait(every):
                    return

        ticker = threading.Thread(target=tick, name="coassist-notice", daemon=True)
        ticker.start()
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            done.set()
            ticker.join()
            if failed and shown.is_set():  # the error says what went wrong; a frozen notice would not
                self.show_status(PLACEHOLDER)

    def _show(self, data: dict[str, str], metadata: dict[str, Any]) -> None:
        self.updates += 1
        if self.display_id:
            update_display(data, raw=True, display_id=self.display_id, metadata=metadata)
