"""Inline completion: one short, cancellable generation per request.

Typing sends a request per pause; only the newest matters. So a new request stops the one
still generating (the `threading.Event` that `ChatModel.generate` watches), generations run
one at a time on a single worker thread (the event loop never blocks), and a client that
disconnects stops its own generation too.

A model that fails to load fails the same way on every keystroke, and a load can take seconds.
So the failure is remembered: requests get `CompletionModelUnavailable` at once, without
touching the model, until `retry_after_s` has passed or the model's directory changes.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from coassist.errors import CompletionModelUnavailable
from coassist.llm import ChatModel
from coassist.prompt.completion import clean_completion, completion_prompt, completion_settings

DEADLINE_SECONDS = 8.0
"""The longest a completion request waits, queue and load included, before it answers with what
it has: JupyterLab drops an inline reply after 20 s, silently, so an answer must come well before."""

LOAD_RETRY_SECONDS = 60.0
"""How long a failed model load is remembered: long enough that a keystroke burst never reloads,
short enough that fixing the model (installing its package, finishing a copy) shows up soon."""

@dataclass(frozen=True)
class Completion:
    """What POST /coassist/complete returns."""

    text: str
    model: str
    cancelled: bool


@dataclass(frozen=True)
class _LoadFailure:
    reason: str
    at: float
    fingerprint: int


class CompletionService:
    """Runs completions for the server, newest request first, stale ones stopped."""

    def __init__(
        self,
        spec: str,
        load_model: Callable[[], ChatModel],
        max_new_tokens: int,
        context_chars: int,
        retry_after_s: float = LOAD_RETRY_SECONDS,
        deadline_s: float = DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self._load_model = load_model
        self.settings = completion_settings(max_new_tokens)
        self.context_chars = context_chars
        self.retry_after_s = retry_after_s
        self.deadline_s = deadline_s
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coassist-complete")
        self._latest: threading.Event | None = None
        self._lock = threading.Lock()
        self._failure: _LoadFailure | None = None  # only the worker thread reads or writes it

    async def complete(self, prefix: str, stop: threading.Event) -> Completion:
        """Complete at the cursor, continuing the cell's text before it (the text after the cursor
        is not sent: the embedded model has no fill-in-the-middle); `stop` set (by a newer request
        or a disconnect) ends it early.

        Raises
        ------
        CompletionModelUnavailable
            The model failed to load (now, or within the last `retry_after_s`).
        PromptTooLong
            The text before the cursor, cut to `context_chars`, is still over the model's context.
        """
        with self._lock:
            if self._latest is not None:
                self._latest.set()
            self._latest = stop
        prefix = prefix[-self.context_chars :]
        # At the deadline the generation is stopped like a superseded one, but its partial answer
        # is still the reply: the model keeps what it made when stopped.
        expired = threading.Event()
        timer = threading.Timer(self.deadline_s, _expire, (expired, stop))
        timer.daemon = True
        timer.start()
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(self._executor, self._generate, prefix, stop)
        except Exception:
            if stop.is_set():  # superseded: nobody is waiting for this answer, or its error
                return Completion("", self.spec, cancelled=True)
            raise
        finally:
            timer.cancel()
        if stop.is_set() and not expired.is_set():
            return Completion("", self.spec, cancelled=True)
        return Completion(clean_completion(text, prefix), self.spec, cancelled=False)

    def _generate(self, prefix: str, stop: threading.Event) -> str:
        # A request superseded while queued behind another never loads or runs the model.
        if stop.is_set():
            return ""
        return self._model().continue_text(completion_prompt(prefix), self.settings, stop=stop).text

    def _model(self) -> ChatModel:
        fingerprint = _spec_fingerprint(self.spec)
        failure = self._failure
        if failure is not None and failure.fingerprint == fingerprint:
            wait = failure.at + self.retry_after_s - self._clock()
            if wait > 0:
                raise CompletionModelUnavailable(self.spec, failure.reason, wait)
        try:
            model = self._load_model()
        except Exception as error:
            reason = _one_line(error)
            self._failure = _LoadFailure(reason, self._clock(), fingerprint)
            raise CompletionModelUnavailable(self.spec, reason, self.retry_after_s) from error
        self._failure = None
        return model


def _expire(expired: threading.Event, stop: threading.Event) -> None:
    expired.set()  # first, so whoever sees `stop` set can tell a deadline from a newer request
    stop.set()


def _spec_fingerprint(spec: str) -> int:
    """Changes when a model directory named by `spec` appears, disappears or is rewritten, so a
    fixed model is loaded at the next request instead of after the back-off (0 for other specs)."""
    path = os.path.expanduser(spec)
    try:
        return max((entry.stat().st_mtime_ns for entry in os.scandir(path)), default=1)
    except OSError:
        return 0


def _one_line(error: BaseException) -> str:
    """The error's message for the client, on one bounded line (the traceback stays in the log)."""
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return (text or type(error).__name__)[:500].rstrip(".")
