"""What every assistant model offers the rest of coassist, whatever runs it.

The notebook layer, the review loop and the widgets talk to a `ChatModel`; whether it is a
local Hugging Face model or an HTTP endpoint is decided once, by the model spec.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from coassist.errors import InvalidSetting

Message = dict[str, str]
"""One chat turn: ``{"role": "system" | "user" | "assistant", "content": "..."}``."""

TextCallback = Callable[[str], None]

BATCH_WIDTH = 16
"""Answers decoded (or requested, up to an endpoint's own limit) at once by default. On the
2-core development CPU (SmolLM2-135M, fp32, 2 threads, quiet), 48 HumanEval prompts with
continuous batching gave 34 tok/s at 8 rows, 44-47 at 16, 24 and 32 (docs/evaluation.md):
past 16 a step costs as much more as it yields."""


def check_width(width: int, option: str = "width") -> None:
    """Refuse a batch width that would decode nothing: one rule for local models, endpoints and
    the evaluation's `--batch-size` (`option` names it as the caller's user typed it)."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise InvalidSetting(option, f"must be a whole number >= 1 (answers decoded at once), got {width!r}")


AnswerCallback = Callable[[int, "Generation"], None]
"""Called with a prompt's index and its answer as each answer of a batch finishes: answers
finish out of order, and a caller can use (score, show, keep) each before the batch ends."""

FinishReason = Literal["stop", "length", "interrupted", "repetition"]
"""Why an answer ended: the model stopped, it reached ``max_new_tokens`` (cut off), a stop
event ended it (a kernel interrupt raises KeyboardInterrupt instead), or it began repeating
itself (`coassist.llm.degenerate`), so generation was stopped and the repeats dropped."""


@dataclass(frozen=True)
class Generation:
    """One answer and how its generation went.

    The notebook layer needs `finish` to say an answer was cut off and to keep it out of the
    conversation; the evaluation harness needs the timings (time to first token, decode rate).

    Attributes
    ----------
    text:
        The answer.
    finish:
        Why it ended (`FinishReason`).
    new_tokens:
        Tokens generated, end-of-sequence included (an endpoint counts streamed chunks, which
        servers send one token at a time).
    first_token_seconds:
        From the call to the first generated token; None when no token came.
    seconds:
        The whole call.
    """

    text: str
    finish: FinishReason
    new_tokens: int
    first_token_seconds: float | None
    seconds: float

    @property
    def tokens_per_second(self) -> float | None:
        """Decode rate after the first token (the prompt's prefill excluded); None under two tokens."""
        if self.first_token_seconds is None or self.new_tokens < 2 or self.seconds <= self.first_token_seconds:
            return None
        return (self.new_tokens - 1) / (self.seconds - self.first_token_seconds)


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate one answer.

    Attributes
    ----------
    max_new_tokens:
        Upper bound on the answer's length in tokens; also reserved out of the context window
        when deciding whether a prompt fits.
    temperature:
        0 means greedy decoding (deterministic, the default: reproducible answers in
        notebooks); above 0 samples with that temperature.
    top_p:
        Nucleus-sampling mass, used only when sampling.
    repetition_penalty:
        Above 1 makes tokens already in the prompt or answer less likely (transformers'
        and vLLM's meaning); 1 leaves decoding as it is and is not sent at all.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.95
    repetition_penalty: float = 1.0

    def __post_init__(self) -> None:
        # Settings arrive from magic options, traitlets, JSON and CLI flags: check type, range
        # and finiteness here, once, so every caller gets the same message.
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, numbers.Integral):
            raise InvalidSetting("--max-new-tokens", f"must be a whole number >= 1, got {self.max_new_tokens!r}")
        if self.max_new_tokens < 1:
            raise InvalidSetting("--max-new-tokens", f"must be a whole number >= 1, got {self.max_new_tokens}")
        temperature = _real("--temperature", self.temperature, "0 (greedy) or a positive number such as 0.7")
        if temperature < 0:
            raise InvalidSetting("--temperature", f"must be 0 (greedy) or a positive number such as 0.7, got {temperature}")
        top_p = _real("top_p", self.top_p, "a number in (0, 1], such as 0.95")
        if not 0 < top_p <= 1:
            raise InvalidSetting("top_p", f"must be a number in (0, 1], such as 0.95, got {top_p}")
        accepted = "a positive number such as 1.1 (1: off)"
        penalty = _real("repetition_penalty", self.repetition_penalty, accepted)
        if penalty <= 0:
            raise InvalidSetting("repetition_penalty", f"must be {accepted}, got {penalty}")
        # Normalise numpy scalars and ints to plain Python numbers: they go into JSON provenance.
        object.__setattr__(self, "max_new_tokens", int(self.max_new_tokens))
        object.__setattr__(self, "temperature", temperature)
        object.__setattr__(self, "top_p", top_p)
        object.__setattr__(self, "repetition_penalty", penalty)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _real(option: str, value: Any, accepted: str) -> float:
    """`value` as a finite float, or `InvalidSetting` saying what `option` accepts."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidSetting(option, f"must be {accepted}, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidSetting(option, f"must be {accepted}, got {number}")
    return number


class ChatModel(Protocol):
    """A loaded assistant model.

    `generate` calls `on_text` with each new piece of the answer as it is produced and
    returns the whole answer as a `Generation`; setting `stop` ends generation early, keeping
    what was made.
    A KeyboardInterrupt (kernel interrupt) propagates out, leaving the model usable.
    """

    spec: str
    context_length: int

    def render_prompt(self, messages: list[Message]) -> str:
        """Exactly the text the model will see for these messages."""
        ...

    def count_tokens(self, messages: list[Message]) -> int:
        """Prompt length in tokens, as the model counts them."""
        ...

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Generation: ...

    def continue_text(
        self, text: str, settings: GenerationSettings, stop: threading.Event | None = None
    ) -> Generation:
        """A plain continuation of `text`, no chat template: how inline completion asks for the next line."""
        ...

    def generate_batch(
        self,
        conversations: list[list[Message]],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        """Answer several independent conversations, up to `width` at once, one `Generation`
        each, in order; `on_answer` hears of each as it finishes.

        A local model decodes them as one batch (on a CPU as on a GPU, a step for many rows
        costs little more than for one: the weights are read once), a finished row making
        room for the next conversation at once; an endpoint sends `width` requests at a time.
        Each row ends on its own (end token, token limit, loop) and has its own timings, from
        when its prompt began to be read, so its `tokens_per_second` is its share of the
        batch's rate.
        """
        ...

    def continue_text_batch(
        self,
        texts: list[str],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        """`continue_text` for several texts, batched as `generate_batch` is."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance: spec, adapter, device, dtype; stored with every answer."""
        ...
