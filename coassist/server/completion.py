"""Inline completion: one short, cancellable generation per request.

Typing sends a request per pause; only the newest matters. So a new request stops the one
still generating (the `threading.Event` that `ChatModel.generate` watches), generations run
one at a time on a single worker thread (the event loop never blocks), and a client that
disconnects stops its own generation too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from coassist.llm import ChatModel, GenerationSettings, Message

SYSTEM_PROMPT = (
    "You complete Python code in a Jupyter notebook cell. Reply with only the code that comes "
    "next at <CURSOR>: no explanation, no repetition of the code before it, no Markdown fences."
)


@dataclass(frozen=True)
class Completion:
    """What POST /coassist/complete returns."""

    text: str
    model: str
    cancelled: bool


def completion_messages(prefix: str, suffix: str) -> list[Message]:
    """The chat the model sees: the cell with a <CURSOR> marker where the completion goes."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{prefix}<CURSOR>{suffix}"},
    ]


def clean_completion(text: str, prefix: str) -> str:
    """Ghost text from a raw answer: unfenced, without an echo of the current line, at most 4 lines.

    >>> clean_completion("```python\\ndef add(a, b):\\n    return a + b\\n```", "def add(a, b):")
    '\\n    return a + b'
    """
    lines = [line for line in text.strip("\n").splitlines() if not line.strip().startswith("```")]
    completion = "\n".join(lines[:4]).rstrip()
    current_line = prefix.rsplit("\n", 1)[-1]
    if current_line.strip() and completion.startswith(current_line):
        completion = completion[len(current_line) :]
    return completion


class CompletionService:
    """Runs completions for the server, newest request first, stale ones stopped."""

    def __init__(
        self, spec: str, load_model: Callable[[], ChatModel], max_new_tokens: int, context_chars: int
    ) -> None:
        self.spec = spec
        self._load_model = load_model
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens)
        self.context_chars = context_chars
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coassist-complete")
        self._latest: threading.Event | None = None
        self._lock = threading.Lock()

    async def complete(self, prefix: str, suffix: str, stop: threading.Event) -> Completion:
        """Complete at the cursor; `stop` set (by a newer request or a disconnect) ends it early."""
        with self._lock:
            if self._latest is not None:
                self._latest.set()
            self._latest = stop
        prefix = prefix[-self.context_chars :]
        suffix = suffix[: self.context_chars // 4]
        loop = asyncio.get_running_loop()
        text = await loop.run_in_executor(self._executor, self._generate, prefix, suffix, stop)
        if stop.is_set():
            return Completion("", self.spec, cancelled=True)
        return Completion(clean_completion(text, prefix), self.spec, cancelled=False)

    def _generate(self, prefix: str, suffix: str, stop: threading.Event) -> str:
        # A request superseded while queued behind another never loads or runs the model.
        if stop.is_set():
            return ""
        return self._load_model().generate(completion_messages(prefix, suffix), self.settings, stop=stop)
