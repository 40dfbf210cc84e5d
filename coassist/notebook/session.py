"""One assistant per IPython session: its settings, its conversation, and how to ask it.

The `%%assist` magics and the chat widget both go through `AssistSession.ask`, so they
share one conversation and build prompts the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coassist.config import Assist
from coassist.llm import ChatModel, GenerationSettings, Message, load_chat_model
from coassist.llm.chat import TextCallback
from coassist.notebook.conversation import Conversation
from coassist.notebook.interpolate import interpolate
from coassist.notebook.last_error import LastErrorTracker
from coassist.notebook.summarise import describe_value


@dataclass(frozen=True)
class Answer:
    """What came back, and everything needed to say where it came from."""

    text: str
    question: str
    provenance: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


class AssistSession:
    """The assistant state of one kernel: config, conversation, last error."""

    def __init__(self, shell: Any, config: Assist | None = None) -> None:
        self.shell = shell
        self.config = config or Assist(parent=shell)
        self.conversation = Conversation()
        self.errors = LastErrorTracker()

    def model(self, spec: str | None = None) -> ChatModel:
        return load_chat_model(spec or self.config.model, device=self.config.device, dtype=self.config.dtype)

    def settings(self, max_new_tokens: int | None = None, temperature: float | None = None) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=max_new_tokens if max_new_tokens is not None else self.config.max_new_tokens,
            temperature=temperature if temperature is not None else self.config.temperature,
        )

    def fill_template(self, template: str, sample_rows: int | None = None) -> str:
        """Interpolate `{name}` from the user namespace, plus `{last_error}`."""
        rows = self.config.dataframe_sample_rows if sample_rows is None else sample_rows
        budget = self.config.context_budget_tokens
        return interpolate(template, self._namespace(), lambda value: describe_value(value, budget, rows))

    def messages(
        self, question: str, model: ChatModel, settings: GenerationSettings, with_history: bool = True
    ) -> list[Message]:
        budget = model.context_length - settings.max_new_tokens
        return self.conversation.messages_for(question, budget, model.count_tokens, with_history and self.config.history)

    def ask(
        self,
        question: str,
        spec: str | None = None,
        settings: GenerationSettings | None = None,
        with_history: bool = True,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Answer:
        """Ask `question` (already interpolated) and record the exchange.

        A kernel interrupt or a set `stop` event keeps what was generated, marks the answer
        interrupted, and leaves it out of the conversation: half an answer is a poor example
        to build on.
        """
        model = self.model(spec)
        settings = settings or self.settings()
        messages = self.messages(question, model, settings, with_history)
        started = time.perf_counter()
        pieces: list[str] = []

        def collect(piece: str) -> None:
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)

        try:
            generation = model.generate(messages, settings, on_text=collect, stop=stop)
            text, interrupted = generation.text, generation.finish == "interrupted"
        except KeyboardInterrupt:
            text, interrupted = "".join(pieces), True
        provenance = {
            **model.describe(),
            "settings": settings.as_dict(),
            "history_turns": (len(messages) - 2) // 2,
            "seconds": round(time.perf_counter() - started, 3),
            "interrupted": interrupted,
        }
        if not interrupted:
            self.conversation.record(question, text, model.spec)
        return Answer(text, question, provenance, interrupted)

    def _namespace(self) -> Mapping[str, Any]:
        user_ns = self.shell.user_ns
        extras: dict[str, Any] = {}
        if "last_error" not in user_ns:
            error = self.errors.error
            extras["last_error"] = error.as_prompt_text() if error else "(no error has been raised yet)"
        return _ChainedNamespace(user_ns, extras)


class _ChainedNamespace(Mapping[str, Any]):
    """The user's variables first, then coassist's pseudo-variables, without copying either."""

    def __init__(self, first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
        self.first, self.second = first, second

    def __getitem__(self, key: str) -> Any:
        return self.first[key] if key in self.first else self.second[key]

    def __contains__(self, key: object) -> bool:
        return key in self.first or key in self.second

    def __iter__(self) -> Any:
        yield from self.first
        yield from (k for k in self.second if k not in self.first)

    def __len__(self) -> int:
        return len(set(self.first) | set(self.second))


_SESSION_ATTRIBUTE = "_coassist_session"


def get_session(shell: Any) -> AssistSession:
    """The session of this shell, created on first use (the magics and widgets share it)."""
    session = getattr(shell, _SESSION_ATTRIBUTE, None)
    if session is None:
        session = AssistSession(shell)
        setattr(shell, _SESSION_ATTRIBUTE, session)
        shell.events.register("post_run_cell", session.errors)
        session.errors.catch_up(shell)
        if session.config not in shell.configurables:
            shell.configurables.append(session.config)
    return session
