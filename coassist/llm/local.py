"""A Hugging Face model answering chats in this process, streaming as it decodes."""

from __future__ import annotations

import threading
from typing import Any

from coassist.errors import PromptTooLong
from coassist.llm.chat import (
    BATCH_WIDTH,
    AnswerCallback,
    FinishReason,
    Generation,
    GenerationSettings,
    Message,
    TextCallback,
    check_width,
)
from coassist.llm.decoding import DRAFT_TOKENS, DecodedRow, Decoder, RowEnd
from coassist.llm.degenerate import settle_loop
from coassist.llm.loading import LoadedModel

_FINISH: dict[RowEnd, FinishReason] = {"end token": "stop", "limit": "length", "loop": "repetition", "stopped": "interrupted"}
"""How a decoded row's end reads as the answer's finish reason."""


class LocalChatModel:
    """A `ChatModel` backed by a local transformers model (see `coassist.llm.chat`).

    `draft_tokens` is prompt lookup's longest draft (`coassist.llm.decoding`; 0: off): answers
    are the same either way, so only a measurement of what lookup earns turns it off.
    """

    def __init__(self, loaded: LoadedModel, draft_tokens: int = DRAFT_TOKENS) -> None:
        self.loaded = loaded
        self.draft_tokens = draft_tokens
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.spec = loaded.spec.text
        self.context_length = _context_length(loaded.model, loaded.tokenizer)

    def render_prompt(self, messages: list[Message]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self._encode([self.render_prompt(messages)], templated=True)[0])

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

    def generate_batch(
        self,
        conversations: list[list[Message]],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        prompts = [self.render_prompt(messages) for messages in conversations]
        return self._decode(prompts, settings, templated=True, width=width, on_answer=on_answer)

    def continue_text_batch(
        self,
        texts: list[str],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        return self._decode(list(texts), settings, templated=False, width=width, on_answer=on_answer)

    def _decode(
        self,
        prompts: list[str],
        settings: GenerationSettings,
        templated: bool,
        width: int = 1,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        """Answer every prompt, `width` at a time (`coassist.llm.decoding`), one `Generation` a
        prompt, in order.

        One function for one prompt and for many, so a batch of one is the single answer.
        Every prompt is checked against the context before any is answered.
        """
        check_width(width)
        if not prompts:
            return []
        prompt_ids = self._encode(prompts, templated)
        for ids in prompt_ids:
            self.check_fits(len(ids), settings)
        generations: dict[int, Generation] = {}

        def finished(row: DecodedRow) -> None:
            generations[row.index] = self._generation(decoder.text(row), row)
            if on_answer is not None:
                on_answer(row.index, generations[row.index])

        decoder = Decoder(
            self.model,
            self.loaded.decode_model,
            self.tokenizer,
            settings,
            end_ids=self._end_token_ids(),
            pad_id=self._pad_token_id(),
            device=self.loaded.device,
            on_row=finished,
            on_text=on_text,
            stop=stop,
            draft_tokens=self.draft_tokens,
        )
        decoder.run(prompt_ids, width)
        return [generations[index] for index in range(len(prompts))]

    @staticmethod
    def _generation(text: str, row: DecodedRow) -> Generation:
        """One row's answer, why it ended, its token count (end token included) and its own timings."""
        text, finish = settle_loop(text, _FINISH[row.end] if row.end is not None else "stop")
        first = None if row.first_token_at is None else row.first_token_at - row.admitted_at
        seconds = 0.0 if row.finished_at is None or not row.admitted_at else row.finished_at - row.admitted_at
        return Generation(text, finish, len(row.token_ids), first, seconds)

    def _end_token_ids(self) -> set[int]:
        configured = self.model.generation_config.eos_token_id
        ids = configured if isinstance(configured, list) else [configured]
        return {i for i in [*ids, self.tokenizer.eos_token_id] if i is not None}

    def _pad_token_id(self) -> int:
        """Padding's id (its value never matters: it is masked); the end token where there is none."""
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else min(self._end_token_ids(), default=0)

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.spec,
            "kind": self.loaded.spec.kind,
            "directory": self.loaded.directory,
            "adapter": self.loaded.adapter,
            "device": str(self.loaded.device),
            "dtype": self.loaded.precision.name,
            "context_length": self.context_length,
        }

    def _encode(self, prompts: list[str], templated: bool) -> list[list[int]]:
        """Each prompt's token ids. A rendered chat template carries its own special tokens;
        plain text gets the tokenizer's usual ones. An empty text is the start of a document
        (the begin token, or the end token where there is none), so it still gets a
        continuation instead of a model call on no tokens."""
        encoded = self.tokenizer(prompts, add_special_tokens=not templated)["input_ids"]
        begin = self.tokenizer.bos_token_id
        start = [begin if begin is not None else self._pad_token_id()]
        return [ids or start for ids in encoded]


def _context_length(model: Any, tokenizer: Any) -> int:
    """The usable context: the model's position limit, or the tokenizer's when smaller."""
    limit = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < limit:
        limit = tokenizer_limit
    return limit
