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
import codeop
import keyword
import os
import re
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from coassist.errors import CompletionModelUnavailable
from coassist.llm import ChatModel, GenerationSettings, Message

DEADLINE_SECONDS = 8.0
"""The longest a completion request waits, queue and load included, before it answers with what
it has: JupyterLab drops an inline reply after 20 s, silently, so an answer must come well before."""

LOAD_RETRY_SECONDS = 60.0
"""How long a failed model load is remembered: long enough that a keystroke burst never reloads,
short enough that fixing the model (installing its package, finishing a copy) shows up soon."""

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


MAX_LINES = 4
"""Ghost text is a line or a short block; longer answers are the model running on."""

_SENTENCE = re.compile(r"^([A-Za-z]+)(?:'[a-z]+)?,? [A-Za-z]+")
"""Two plain words in a row, as an English sentence starts ("Here is", "This function's"),
unless the first is a Python keyword ("return a", "import os")."""


def clean_completion(text: str, prefix: str) -> str:
    """Ghost text from a raw answer: only the rest of the current line or block, in code.

    In order: Markdown fences are dropped; an echo of the code before the cursor is cut; the
    answer ends at a blank line, at a line indented less than the cursor line's block, at the
    first line of prose, and after `MAX_LINES` lines.

    >>> clean_completion("```python\\ndef add(a, b):\\n    return a + b\\n```", "def add(a, b):")
    '\\n    return a + b'
    >>> clean_completion("return a + b\\n\\nprint(add(1, 2))", "def add(a, b):\\n    ")
    'return a + b'
    >>> clean_completion("x + 1\\nThis adds one to x.", "y = ")
    'x + 1'
    """
    # split("\n"), not splitlines(): a model's odd control characters are not line breaks.
    lines = [line for line in text.rstrip().split("\n") if not line.strip().startswith("```")]
    completion = _drop_echo("\n".join(lines).rstrip(), prefix)
    current_line = prefix.rsplit("\n", 1)[-1]
    kept = _rest_of_block(current_line, completion.split("\n"))
    if not prefix.lstrip().startswith("%%"):  # a cell magic's body need not be Python
        kept = _without_prose(_code_region(prefix), kept)
    return "\n".join(kept[:MAX_LINES]).rstrip()


def _drop_echo(completion: str, prefix: str) -> str:
    """`completion` without the longest tail of `prefix` (whole lines, or the current line with
    or without its indentation) that it starts by repeating."""
    starts = [0] + [i + 1 for i, char in enumerate(prefix) if char == "\n"]
    current = prefix[starts[-1] :]
    candidates = [prefix[start:] for start in starts] + [current.lstrip()]
    for candidate in candidates:
        if candidate.strip() and completion.startswith(candidate):
            return completion[len(candidate) :]
    if current and not current.strip() and completion.startswith(current):  # the indentation again
        return completion[len(current) :]
    return completion


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _rest_of_block(current_line: str, lines: list[str]) -> list[str]:
    """The lines up to a blank line or a dedent out of the cursor line's block.

    `lines[0]` continues `current_line`. When that line opens a block (ends with ``:``), the
    block is its body, so a line at its own indentation or less ends it.
    """
    first = current_line + lines[0]
    base = _indent(first) if first.strip() else len(current_line)
    opens_block = first.rstrip().endswith(":")
    kept = [lines[0]]
    for line in lines[1:]:
        if not line.strip():
            break
        if _indent(line) < base or (opens_block and _indent(line) <= base):
            break
        kept.append(line)
    return kept


def _code_region(prefix: str) -> str:
    """The prefix from its last top-level line: enough context to parse the cursor's statement.
    IPython magics and shell escapes become ``pass`` so the parser accepts them."""
    lines = prefix.split("\n")
    start = 0
    for number, line in enumerate(lines[:-1]):
        if line.strip() and _indent(line) == 0 and line.lstrip()[0] not in ")]}":
            start = number
    region = lines[start:]
    return "\n".join(
        line[: _indent(line)] + "pass" if line.lstrip().startswith(("%", "!")) else line for line in region
    )


def _parses(source: str) -> bool:
    """Whether `source` is Python or the start of it (incomplete is fine, invalid is not).
    It is compiled as a function body, so ``return``, ``yield`` and ``await`` are allowed."""
    body = "async def _coassist_():\n" + textwrap.indent(source, " ", lambda line: True) + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            codeop.compile_command(body, "<completion>", "exec")
        except (SyntaxError, ValueError, OverflowError):
            return False
    return True


def _without_prose(region: str, lines: list[str]) -> list[str]:
    """`lines` up to the first line of prose: one that starts like an English sentence and that
    Python's parser rejects where it stands (after the code before the cursor and the lines kept
    so far). Either test alone is too eager: "import os" starts with two words, and a model's
    odd tokens need not parse yet are not prose."""
    kept: list[str] = []
    for line in lines:
        candidate = region + "\n".join([*kept, line])
        sentence = _SENTENCE.match(line.strip())
        if sentence and not keyword.iskeyword(sentence.group(1)) and not _parses(candidate):
            break
        kept.append(line)
    return kept


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
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens)
        self.context_chars = context_chars
        self.retry_after_s = retry_after_s
        self.deadline_s = deadline_s
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coassist-complete")
        self._latest: threading.Event | None = None
        self._lock = threading.Lock()
        self._failure: _LoadFailure | None = None  # only the worker thread reads or writes it

    async def complete(self, prefix: str, suffix: str, stop: threading.Event) -> Completion:
        """Complete at the cursor; `stop` set (by a newer request or a disconnect) ends it early.

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
        suffix = suffix[: self.context_chars // 4]
        # At the deadline the generation is stopped like a superseded one, but its partial answer
        # is still the reply: the model keeps what it made when stopped.
        expired = threading.Event()
        timer = threading.Timer(self.deadline_s, _expire, (expired, stop))
        timer.daemon = True
        timer.start()
        loop = asyncio.get_running_loop()
        try:
            text = await loop.run_in_executor(self._executor, self._generate, prefix, suffix, stop)
        except Exception:
            if stop.is_set():  # superseded: nobody is waiting for this answer, or its error
                return Completion("", self.spec, cancelled=True)
            raise
        finally:
            timer.cancel()
        if stop.is_set() and not expired.is_set():
            return Completion("", self.spec, cancelled=True)
        return Completion(clean_completion(text, prefix), self.spec, cancelled=False)

    def _generate(self, prefix: str, suffix: str, stop: threading.Event) -> str:
        # A request superseded while queued behind another never loads or runs the model.
        if stop.is_set():
            return ""
        return self._model().generate(completion_messages(prefix, suffix), self.settings, stop=stop).text

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
