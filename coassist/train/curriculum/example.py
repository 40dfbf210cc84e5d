"""One training example of the curriculum, as a line of SFT JSONL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coassist.llm.chat import Message


@dataclass(frozen=True)
class Example:
    """A conversation or a plain continuation, with what kind of example it is and the words a
    user would have typed (for the check that no evaluation prompt is in the curriculum)."""

    kind: str
    """``table/missing_columns``, ``error/KeyError``, ``code/request``, ``completion/line``..."""
    record: dict[str, Any]
    """``{"messages": [...]}`` or ``{"prompt": ..., "completion": ...}``: what `read_sft_jsonl` reads."""
    source_text: str
    """The user's own text: the question typed, the cell that failed, the code before the cursor."""

    def as_json(self) -> dict[str, Any]:
        return {**self.record, "kind": self.kind, "source_text": self.source_text}


def chat_example(kind: str, messages: list[Message], answer: str, source_text: str) -> Example:
    """The conversation `messages` (system prompt, history, question) answered with `answer`."""
    return Example(kind, {"messages": [*messages, {"role": "assistant", "content": answer}]}, source_text)


def completion_example(kind: str, prompt: str, completion: str, source_text: str) -> Example:
    return Example(kind, {"prompt": prompt, "completion": completion}, source_text)
