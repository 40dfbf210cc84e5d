"""Inline completion: prompt, clean-up of raw answers, and cancellation of stale requests."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from coassist.errors import CompletionModelUnavailable
from coassist.llm import GenerationSettings
from coassist.llm.chat import Generation
from coassist.prompt.completion import clean_completion
from coassist.server.completion import Completion, CompletionService

pytest_plugins = ["pytest_jupyter.jupyter_server"]


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


class BlockingModel:
    """The first generation waits until it is stopped; later ones answer at once."""

    spec = "blocking"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.settings: list[GenerationSettings] = []
        self.started = threading.Event()

    def continue_text(self, text: str, settings: GenerationSettings, stop: threading.Event | None = None) -> Generation:
        self.calls.append(text)
        self.settings.append(settings)
        if len(self.calls) == 1:
            self.started.set()
            assert stop is not None and stop.wait(5), "the stale request was never stopped"
            return Generation("stale", "interrupted", 1, 0.0, 0.0)
        return Generation("return a + b", "stop", 5, 0.0, 0.0)


def make_service(model: BlockingModel, loads: list[int]) -> CompletionService:
    def load() -> Any:
        loads.append(1)
        return model

    return CompletionService("blocking", load, max_new_tokens=16, context_chars=100)


def test_a_newer_request_stops_the_one_still_generating() -> None:
    model, loads = BlockingModel(), []
    service = make_service(model, loads)

    async def type_then_type_more() -> tuple[Completion, Completion]:
        first = asyncio.ensure_future(service.complete("def add(a, b):\n", threading.Event()))
        await asyncio.get_running_loop().run_in_executor(None, model.started.wait, 5)
        second = await service.complete("def add(a, b):\n    ", threading.Event())
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
    result = asyncio.run(service.complete("x = ", stop))
    assert result.cancelled and model.calls == [] and loads == []


def test_long_cells_are_cut_to_the_context_budget() -> None:
    model, loads = BlockingModel(), []
    model.calls.append("")  # skip the blocking first call
    service = make_service(model, loads)
    asyncio.run(service.complete("a" * 500 + "tail", threading.Event()))
    assert model.calls[-1] == "a" * 96 + "tail"  # the cell's last context_chars, continued as text


# --- a model that cannot load, a prompt that cannot fit --------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def broken_service(loads: list[int], clock: Clock) -> CompletionService:
    def load() -> Any:
        loads.append(1)
        raise OSError("no model at /models/missing: config.json not found")

    return CompletionService(
        "/models/missing", load, max_new_tokens=8, context_chars=100, retry_after_s=60, clock=clock
    )


def test_a_model_that_failed_to_load_is_not_retried_until_the_back_off_ends() -> None:
    loads: list[int] = []
    clock = Clock()
    service = broken_service(loads, clock)
    for _ in range(3):
        with pytest.raises(CompletionModelUnavailable) as caught:
            asyncio.run(service.complete("x = ", threading.Event()))
        clock.now += 10
    assert loads == [1]
    assert "config.json not found" in str(caught.value) and "'/models/missing'" in str(caught.value)
    assert caught.value.retry_after_s == pytest.approx(40)
    clock.now += 40
    with pytest.raises(CompletionModelUnavailable):
        asyncio.run(service.complete("x = ", threading.Event()))
    assert loads == [1, 1]


@pytest.fixture
def jp_server_config(tiny_model_dir: Path, tmp_path: Path) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"coassist": True}},
        "CoassistServer": {
            "model": str(tiny_model_dir),
            "db_url": str(tmp_path / "review.db"),
            "completion_max_new_tokens": 8,
        },
    }


async def post_complete(jp_fetch: Any, prefix: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    try:
        response = await jp_fetch("coassist", "complete", method="POST", body=json.dumps({"prefix": prefix}))
    except HTTPClientError as error:
        assert error.response is not None
        response = error.response
    return response.code, dict(response.headers), json.loads(response.body)


async def test_a_model_that_cannot_load_is_a_503_that_says_why(jp_fetch: Any, jp_serverapp: Any) -> None:
    loads: list[int] = []
    jp_serverapp.web_app.settings["coassist_completions"] = broken_service(loads, Clock())
    replies = [await post_complete(jp_fetch, "import pandas as pd\n") for _ in range(3)]
    assert [code for code, _, _ in replies] == [503, 503, 503]
    assert loads == [1], "every keystroke tried to load the model again"
    _, headers, reply = replies[-1]
    assert reply == {"message": replies[0][2]["message"]}
    assert "could not be loaded" in reply["message"] and "config.json not found" in reply["message"]
    assert "CoassistServer.model" in reply["message"]
    assert int(headers["Retry-After"]) == 60


async def test_a_real_unknown_model_path_is_a_503(jp_fetch: Any, jp_serverapp: Any, tmp_path: Path) -> None:
    from coassist.llm import load_chat_model

    missing = str(tmp_path / "no-such-model")
    jp_serverapp.web_app.settings["coassist_completions"] = CompletionService(
        missing, lambda: load_chat_model(missing, device="cpu"), max_new_tokens=8, context_chars=100
    )
    code, _, reply = await post_complete(jp_fetch, "x = ")
    assert code == 503 and "could not be loaded" in reply["message"] and missing in reply["message"]


async def test_a_prompt_over_the_context_is_a_413_that_says_what_to_lower(jp_fetch: Any) -> None:
    # The tiny model holds 256 tokens; 2000 characters of code before the cursor are more.
    code, headers, reply = await post_complete(jp_fetch, "values = [alpha_beta, gamma_delta]\n" * 60)
    assert code == 413, reply
    assert headers["Content-Type"].startswith("application/json")
    assert "256 tokens" in reply["message"] and "CoassistServer.completion_context_chars" in reply["message"]


def test_a_model_directory_that_changes_is_loaded_again_at_once(tmp_path: Path) -> None:
    """A fixed model (a copy finished, a package installed) need not wait for the back-off."""
    model_dir, model, loads = tmp_path / "model", BlockingModel(), []
    model.calls.append([])  # skip the blocking first call

    def load() -> Any:
        loads.append(1)
        if not (model_dir / "config.json").exists():
            raise OSError(f"{model_dir} has no config.json")
        return model

    service = CompletionService(str(model_dir), load, max_new_tokens=8, context_chars=100)
    with pytest.raises(CompletionModelUnavailable):
        asyncio.run(service.complete("x = ", threading.Event()))
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    assert asyncio.run(service.complete("x = ", threading.Event())).text == "return a + b"
    assert loads == [1, 1]
