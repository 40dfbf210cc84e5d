"""A Hugging Face model answering chats in this process, streaming as it decodes."""

from __future__ import annotations

import threading
import time
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from coassist.errors import PromptTooLong
from coassist.llm.chat import FinishReason, Generation, GenerationSettings, Message, TextCallback
from coassist.llm.degenerate import LOOP_CHECK_TOKENS, is_degenerate, trim_repetition
from coassist.llm.loading import LoadedModel


class _StopOnEvent(StoppingCriteria):
    """Ends generation when a widget's stop button sets the event."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> bool:
        return self.event.is_set()


class _Rows(StoppingCriteria):
    """Follows each row of a batch as it decodes, and ends a row once it repeats itself.

    transformers calls this after every step with the tokens so far, and finishes the rows
    it returns True for (later tokens of a finished row are padding, which is skipped here). A
    row ends at an end token, or when its answer so far loops (`coassist.llm.degenerate`,
    checked every `LOOP_CHECK_TOKENS` tokens): a looping row stops within a line while the
    others go on. The first call is the moment the first token exists. `on_text` streams row 0
    (`generate` passes it with a batch of one): each new piece of the answer as it is decoded,
    text ending in U+FFFD held back (half of a multi-byte character).
    """

    def __init__(self, tokenizer: Any, rows: int, end_ids: set[int], on_text: TextCallback | None = None) -> None:
        self.tokenizer = tokenizer
        self.end_ids = end_ids
        self.on_text = on_text
        self.token_ids: list[list[int]] = [[] for _ in range(rows)]
        self.ended = [False] * rows
        self.looped = [False] * rows
        self.first_token_at: float | None = None
        self.emitted = 0

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        for row, token in enumerate(input_ids[:, -1].tolist()):
            if self.ended[row] or self.looped[row]:
                continue
            ids = self.token_ids[row]
            ids.append(token)
            if token in self.end_ids:
                self.ended[row] = True
            elif len(ids) % LOOP_CHECK_TOKENS == 0 and is_degenerate(self.text(row)):
                self.looped[row] = True
        if self.on_text is not None:
            self.flush(final=False)
        done = [ended or looped for ended, looped in zip(self.ended, self.looped, strict=True)]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def text(self, row: int) -> str:
        return self.tokenizer.decode(self.token_ids[row], skip_special_tokens=True)

    def flush(self, final: bool) -> None:
        """Hand `on_text` what row 0 decoded since the last piece (all of it when `final`)."""
        text = self.text(0)
        if self.on_text is not None and len(text) > self.emitted and (final or not text.endswith("\ufffd")):
            piece, self.emitted = text[self.emitted :], len(text)
            self.on_text(piece)


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
        return len(self._encode([self.render_prompt(messages)], templated=True)["input_ids"][0])

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
        [generation] = self._decode([self.render_prompt(messages)], settings, templated=True, on_text=on_text, stop=stop)
        return generation

    def continue_text(
        self, text: str, settings: GenerationSettings, stop: threading.Event | None = None
    ) -> Generation:
        """What comes after `text`, with no chat template: a plain continuation of a code cell.

        A small instruct model asked in a chat to "complete the code at <CURSOR>" mostly talks
        about the code; continuing the cell's text as it would continue a file gives the next
        line (docs/evaluation.md measures both).
        """
        [generation] = self._decode([text], settings, templated=False, stop=stop)
        return generation

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[Generation]:
        return self._decode([self.render_prompt(messages) for messages in conversations], settings, templated=True)

    def continue_text_batch(self, texts: list[str], settings: GenerationSettings) -> list[Generation]:
        return self._decode(list(texts), settings, templated=False)

    def _decode(
        self,
        prompts: list[str],
        settings: GenerationSettings,
        templated: bool,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> list[Generation]:
        """Answer every prompt in one `generate` call, one `Generation` a prompt, in order.

        One function for one prompt and for many: a batch of one is the single answer, so
        batched and single answers differ only by the padding (greedy decoding gives the same
        tokens up to float rounding). Each row stops on its own at an end token or a loop; the
        stop event ends them all.
        """
        if not prompts:
            return []
        started = time.perf_counter()
        inputs = self._encode(prompts, templated)
        self.check_fits(inputs["input_ids"].shape[1], settings)
        end_ids = self._end_token_ids()
        rows = _Rows(self.tokenizer, len(prompts), end_ids, on_text)
        criteria = StoppingCriteriaList([rows, *([_StopOnEvent(stop)] if stop is not None else [])])
        with torch.inference_mode():
            self.model.generate(
                **inputs, **self._generation_kwargs(settings), eos_token_id=sorted(end_ids), stopping_criteria=criteria
            )
        if on_text is not None:
            rows.flush(final=True)
        seconds = time.perf_counter() - started
        first = None if rows.first_token_at is None else rows.first_token_at - started
        interrupted = stop is not None and stop.is_set()
        return [
            Generation(*self._answer(rows, row, settings, interrupted), first, seconds) for row in range(len(prompts))
        ]

    def _answer(self, rows: _Rows, row: int, settings: GenerationSettings, interrupted: bool) -> tuple[str, FinishReason, int]:
        """One row's text, why it ended, and its token count (end-of-sequence included)."""
        text, new_tokens = rows.text(row), len(rows.token_ids[row])
        if interrupted:
            return text, "interrupted", new_tokens
        # A loop that began in the last few tokens, after the final check, is still a loop.
        if rows.looped[row] or is_degenerate(text):
            return trim_repetition(text), "repetition", new_tokens
        cut_off = new_tokens >= settings.max_new_tokens and not rows.ended[row]
        return text, "length" if cut_off else "stop", new_tokens

    def _end_token_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

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

    def _encode(self, prompts: list[str], templated: bool) -> Any:
        """The prompts as one left-padded batch (a decoder-only model's answers then line up).

        A rendered chat template carries its own special tokens; plain text gets the
        tokenizer's usual ones.
        """
        encoded = self.tokenizer(
            prompts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=not templated
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
