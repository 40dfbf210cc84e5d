"""A ChatModel double that answers with a fixed text, for testing the notebook layer's mechanics.

The tiny random model answers noise; tests about what the magic does with an answer (extract
code, store it, stream it, survive an interrupt) need an answer with known content.
"""

from __future__ import annotations

import threading
from typing import Any

from coassist.llm.chat import GenerationSettings, Message, TextCallback


class ScriptedModel:
    spec = "scripted"
    context_length = 4096

    def __init__(self, answer: str, interrupt_after: int | None = None) -> None:
        self.answer = answer
        self.interrupt_after = interrupt_after
        self.calls: list[list[Message]] = []

    def render_prompt(self, messages: list[Message]) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.render_prompt(messages).split())

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> str:
        self.calls.append(messages)
        pieces = self.answer.split(" ")
        for index, word in enumerate(pieces):
            if self.interrupt_after is not None and index == self.interrupt_after:
                raise KeyboardInterrupt
            if on_text is not None:
                on_text(word if index == 0 else " " + word)
        return self.answer

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[str]:
        return [self.generate(c, settings) for c in conversations]

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "kind": "scripted", "adapter": None}
