"""Inline completion: prompt, clean-up of raw answers, and cancellation of stale requests."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from coassist.llm import GenerationSettings, Message
from coassist.server.completion import Completion, CompletionService, clean_completion, completion_messages


@pytest.mark.parametrize(
    "raw,prefix,expected",
    [
        ("```python\nreturn a + b\n```", "def add(a, b):\n    ", "return a + b"),
        ("df.head()", "import pandas as pd\n", "df.head()"),
        # The model repeated the current line: only the new part is ghost text.
        ("x = compute(1)\nprint(x)", "x = comp", "ute(1)\nprint(x)"),
        ("a\nb\nc\nd\ne\nf", "", "a\nb\nc\nd"),
        ("\n\n", "x", ""),
    ],
)
def test_clean_completion(raw: str, prefix: str, expected: str) -> None:
    assert clean_completion(raw, prefix) == expected


def test_completion_messages_mark_the_cursor() -> None:
    messages = completion_messages("def f():\n    ", "\nprint(f())")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == "def f():\n    <CURSOR>\nprint(f())"


class BlockingModel:
    """The first generation waits until it is stopped; later ones answer at once."""

    spec = "blocking"

    def __init__(self) -> None:
        self.calls: list[list[Message]] = []
        self.settings: list[GenerationSettings] = []
        self.started = threading.Event()

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: Any = None,
        stop: threading.Event | None = None,
    ) -> str:
        self.calls.append(messages)
        self.settings.append(settings)
        if len(self.calls) == 1:
            self.started.set()
            assert stop is not None and stop.wait(5), "the stale request was never stopped"
            return "stale"
        return "return a + b"


def make_service(model: BlockingModel, loads: list[int]) -> CompletionService:
    def load() -> Any:
        loads.append(1)
        return model

    return CompletionService("blocking", load, max_new_tokens=16, context_chars=100)


def test_a_newer_request_stops_the_one_still_generating() -> None:
    model, loads = BlockingModel(), []
    service = make_service(model, loads)

    async def type_then_type_more() -> tuple[Completion, Completion]:
        first = asyncio.ensure_future(service.complete("def add(a, b):\n", "", threading.Event()))
        await asyncio.get_running_loop().run_in_executor(None, model.started.wait, 5)
        second = await service.complete("def add(a, b):\n    ", "", threading.Event())
        return await first, second

    stale, second = asyncio.run(type_then_type_more())
    assert (stale.text, stale.cancelled) == ("", True)
    assert (second.text, second.cancelled, second.model) == ("return a + b", False, "blocking")
    assert [s.max_new_tokens for s in model.settings] == [16, 16]


def test_a_request_stopped_before_it_runs_never_touches_the_model() -> None:
    model, loads = BlockingModel(), []
    service = make_service(model, loads)
    stop = threading.Event()
    stop.set()
    result = asyncio.run(service.complete("x = ", "", stop))
    assert result.cancelled and model.calls == [] and loads == []


def test_long_cells_are_cut_to_the_context_budget() -> None:
    model, loads = BlockingModel(), []
    model.calls.append([])  # skip the blocking first call
    service = make_service(model, loads)
    asyncio.run(service.complete("a" * 500 + "tail", "b" * 500, threading.Event()))
    sent = model.calls[-1][1]["content"]
    assert sent == "a" * 96 + "tail<CURSOR>" + "b" * 25
