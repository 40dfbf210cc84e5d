"""One assistant per IPython session: its settings, its conversation, and how to ask it.

The `%%assist` magics and the chat widget both go through `AssistSession.ask`, so they
share one conversation and build prompts the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from coassist.config import Assist
from coassist.llm import ChatModel, GenerationSettings, Message, load_chat_model
from coassist.llm.chat import FinishReason, TextCallback
from coassist.llm.degenerate import is_degenerate
from coassist.notebook.last_error import LastErrorTracker
from coassist.prompt import Conversation, build_question

NotKeptReason = Literal["interrupted", "degenerate", "cut off"]
"""Why an answer was left out of the conversation: stopped by the user, looping
(`is_degenerate`), or cut off at `max_new_tokens`. A later answer would build on it, and
small models copy what they see."""


@dataclass(frozen=True)
class Answer:
    """What came back, and everything needed to say where it came from.

    `finish` is how generation ended; `not_kept` why the answer is not in the conversation
    (None when it is); `max_new_tokens` the limit it ran under, for the cut-off notice.
    """

    text: str
    question: str
    finish: FinishReason
    not_kept: NotKeptReason | None
    max_new_tokens: int
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.finish == "interrupted"


class AssistSession:
    """The assistant state of one kernel: config, conversation, last error."""

    def __init__(self, shell: Any, config: Assist | None = None) -> None:
        self.shell = shell
        self.config = config or Assist(parent=shell)
        self.conversation = Conversation(system_prompt=self.config.system_prompt)
        # `%config Assist.system_prompt = ...` takes effect from the next question on.
        self.config.observe(self._use_system_prompt, names="system_prompt")
        self.errors = LastErrorTracker()

    def model(self, spec: str | None = None) -> ChatModel:
        return load_chat_model(spec or self.config.model, device=self.config.device, dtype=self.config.dtype)

    def settings(self, max_new_tokens: int | None = None, temperature: float | None = None) -> GenerationSettings:
        return self.config.generation_settings(max_new_tokens, temperature)

    def fill_template(self, template: str, sample_rows: int | None = None) -> str:
        """Interpolate `{name}` from the user namespace, plus `{last_error}`.

        Long and multi-line values (tables, cell sources, errors) are described before the
        question and named in it (`coassist.prompt.build_question`).
        """
        return build_question(template, self._namespace(), self.config.context_options(sample_rows))

    def messages(
        self, question: str, model: ChatModel, settings: GenerationSettings, with_history: bool = True
    ) -> list[Message]:
        budget = model.context_length - settings.max_new_tokens
        return self.conversation.messages_for(
            question,
            budget,
            model.count_tokens,
            with_history and self.config.history,
            history_budget=self.config.history_budget_tokens,
        )

    def ask(
        self,
        question: str,
        spec: str | None = None,
        settings: GenerationSettings | None = None,
        with_history: bool = True,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
        typed: str = "",
    ) -> Answer:
        """Ask `question` (already interpolated; `typed` is what the person wrote) and record the
        exchange if it is worth keeping.

        A kernel interrupt or a set `stop` event keeps what was generated and marks the answer
        interrupted. Interrupted, looping and cut-off answers are left out of the conversation
        (`Answer.not_kept` says which): half an answer or a loop is a poor example to build on.
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

        finish: FinishReason
        try:
            generation = model.generate(messages, settings, on_text=collect, stop=stop)
            text, finish = generation.text, generation.finish
        except KeyboardInterrupt:
            text, finish = "".join(pieces), "interrupted"
        not_kept = _not_kept_reason(text, finish)
        provenance = {
            **model.describe(),
            "settings": settings.as_dict(),
            "history_turns": (len(messages) - 2) // 2,
            "seconds": round(time.perf_counter() - started, 3),
            "finish": finish,
            "interrupted": finish == "interrupted",
            "not_kept": not_kept,
        }
        if not_kept is None:
            self.conversation.record(question, text, model.spec, typed)
        return Answer(text, question, finish, not_kept, settings.max_new_tokens, provenance)

    def _use_system_prompt(self, change: dict[str, Any]) -> None:
        self.conversation.system_prompt = change["new"]

    def _namespace(self) -> Mapping[str, Any]:
        user_ns = self.shell.user_ns
        extras: dict[str, Any] = {}
        if "last_error" not in user_ns:
            error = self.errors.error
            extras["last_error"] = error.as_prompt_text() if error else "(no error has been raised yet)"
        return _ChainedNamespace(user_ns, extras)


def _not_kept_reason(text: str, finish: FinishReason) -> NotKeptReason | None:
    """Why this answer stays out of the conversation, or None to keep it."""
    if finish == "interrupted":
        return "interrupted"
    if finish == "repetition" or is_degenerate(text):  # before "cut off": a loop usually runs into the limit, and is the real fault
        return "degenerate"
    if finish == "length":
        return "cut off"
    return None


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
