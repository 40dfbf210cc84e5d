"""A Hugging Face model answering chats in this process, streaming as it decodes."""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from coassist.errors import PromptTooLong
from coassist.llm.chat import FinishReason, Generation, GenerationSettings, Message, TextCallback
from coassist.llm.degenerate import LOOP_CHECK_TOKENS, is_degenerate, trim_repetition
from coassist.llm.loading import LoadedModel


class _IncrementalDecoder(BaseStreamer):
    """Hands each newly decoded piece of text to a callback as tokens arrive.

    Runs on the generating thread: no queue or helper thread stands between `generate` and
    the callback, so streaming costs only the decode (benchmarks/inference.py measures it).
    Text ending in U+FFFD is held back: it is half of a multi-byte character.
    """

    def __init__(self, tokenizer: Any, on_text: TextCallback | None) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.token_ids: list[int] = []
        self.emitted = 0
        self.prompt_seen = False
        self.first_token_at: float | None = None

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt itself
            self.prompt_seen = True
            return
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        self.token_ids.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return
        self._emit(text)

    def end(self) -> None:
        self._emit(self.text)

    @property
    def text(self) -> str:
        return self.tokenizer.decode(self.token_ids, skip_special_tokens=True)

    def _emit(self, text: str) -> None:
        if len(text) > self.emitted:
            piece, self.emitted = text[self.emitted :], len(text)
            if self.on_text is not None:
                self.on_text(piece)


class _StopOnEvent(StoppingCriteria):
    """Ends generation when a widget's stop button sets the event."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> bool:
        return self.event.is_set()


class _StopOnLoop(StoppingCriteria):
    """Ends generation once the answer so far repeats itself (`coassist.llm.degenerate`).

    Checked every `LOOP_CHECK_TOKENS` tokens on the streamer's decoded text, which the
    streamer keeps anyway: a loop is cut within a line instead of running to the token limit.
    """

    def __init__(self, streamer: _IncrementalDecoder) -> None:
        self.streamer = streamer
        self.fired = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> bool:
        tokens = len(self.streamer.token_ids)
        if tokens and tokens % LOOP_CHECK_TOKENS == 0 and is_degenerate(self.streamer.text):
            self.fired = True
        return self.fired


class LocalChatModel:
    """A `ChatModel` backed by a local transformers model (see `coassist.llm.chat`)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.spec = loaded.spec.text
        self.context_length = _context_length(loaded.model, loaded.tokenizer)

    def render_prompt(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._encode(messages)["input_ids"][0])

    def check_fits(self, prompt_tokens: int, settings: GenerationSettings) -> None:
        """Refuse, before touching the model, a prompt that leaves no room for the answer."""
        if prompt_tokens + settings.max_new_tokens > self.context_length:
            raise PromptTooLong(prompt_tokens, settings.max_new_tokens, self.context_length)

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        started = time.perf_counter()
        return self._decode(self._encode(messages), settings, on_text, stop, started)

    def continue_text(
        self, text: str, settings: GenerationSettings, stop: threading.Event | None = None
    ) -> Generation:
        """What comes after `text`, with no chat template: a plain continuation of a code cell.

        A small instruct model asked in a chat to "complete the code at <CURSOR>" mostly talks
        about the code; continuing the cell's text as it would continue a file gives the next
        line (docs/evaluation.md measures both).
        """
        started = time.perf_counter()
        inputs = self.tokenizer(text, return_tensors="pt").to(self.loaded.device)
        return self._decode(inputs, settings, None, stop, started)

    def _decode(
        self,
        inputs: Any,
        settings: GenerationSettings,
        on_text: TextCallback | None,
        stop: threading.Event | None,
        started: float,
    ) -> Generation:
        """Generate after the encoded prompt, streaming; stop on the event or on a loop."""
        self.check_fits(inputs["input_ids"].shape[1], settings)
        streamer = _IncrementalDecoder(self.tokenizer, on_text)
        loop = _StopOnLoop(streamer)
        criteria = StoppingCriteriaList([loop, *([_StopOnEvent(stop)] if stop is not None else [])])
        with torch.inference_mode():
            self.model.generate(
                **inputs, **self._generation_kwargs(settings), streamer=streamer, stopping_criteria=criteria
            )
        first = None if streamer.first_token_at is None else streamer.first_token_at - started
        text, new_tokens = streamer.text, len(streamer.token_ids)
        # A loop that began in the last few tokens, after the final check, is still a loop.
        if (loop.fired or is_degenerate(text)) and not (stop is not None and stop.is_set()):
            return Generation(trim_repetition(text), "repetition", new_tokens, first, time.perf_counter() - started)
        finish = self._finish(streamer.token_ids, settings, stop)
        return Generation(text, finish, new_tokens, first, time.perf_counter() - started)

    def _finish(self, token_ids: list[int], settings: GenerationSettings, stop: threading.Event | None) -> FinishReason:
        """Why decoding ended: the stop event, the token limit with no end-of-sequence, or the model."""
        if stop is not None and stop.is_set():
            return "interrupted"
        ended = token_ids and token_ids[-1] in self._end_token_ids()
        return "length" if len(token_ids) >= settings.max_new_tokens and not ended else "stop"

    def _end_token_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[str]:
        if not conversations:
            return []
        prompts = [self.render_prompt(messages) for messages in conversations]
        previous_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"  # decoder-only: pad on the left so answers line up
        try:
            batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = previous_side
        longest = int(batch["attention_mask"].sum(dim=1).max())
        self.check_fits(longest, settings)
        batch = batch.to(self.loaded.device)
        with torch.inference_mode():
            output = self.model.generate(**batch, **self._generation_kwargs(settings))
        answers = output[:, batch["input_ids"].shape[1] :]  # (batch, new_tokens)
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in answers]

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.spec,
            "kind": self.loaded.spec.kind,
            "directory": self.loaded.directory,
            "adapter": self.loaded.adapter,
            "device": str(self.loaded.device),
            "dtype": self.loaded.dtype_name,
            "context_length": self.context_length,
        }

    def _encode(self, messages: list[Message]) -> Any:
        encoded = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return encoded.to(self.loaded.device)

    def _generation_kwargs(self, settings: GenerationSettings) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": settings.max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if settings.temperature > 0:
            kwargs.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if settings.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = settings.repetition_penalty
        return kwargs


def _context_length(model: Any, tokenizer: Any) -> int:
    """The usable context: the model's position limit, or the tokenizer's when smaller."""
    limit = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < limit:
        limit = tokenizer_limit
    return limit
