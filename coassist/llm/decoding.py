"""The local model's decode loop: continuous batching, each row stopping on its own.

A batch decoded as one block lasts as long as its longest answer, and its finished rows sit
idle meanwhile: in the evaluation, HumanEval answers of up to 384 tokens beside 60-token
ones left half the row-steps producing nothing. Here a row that finishes leaves the batch
at once and the next prompt waiting takes its place (its prompt is read in, and its keys and
values join the batch's cache), so up to `width` rows decode at every step until the queue
is empty.

One loop serves a single streamed answer (a queue of one) and a batch alike, so batched and
single answers differ only by the padding (greedy decoding gives the same tokens up to float
rounding). A row ends at an end token, at its token limit, or once its answer so far loops
(`coassist.llm.degenerate`, checked every `LOOP_CHECK_TOKENS` tokens); the stop event ends
all rows. The rules for choosing a token (repetition penalty, temperature, top-p) are
transformers' own logits processors, applied to each row's own tokens, so padding is never
penalised.

Refilling needs to join caches of different lengths, which this loop does for the plain
per-layer key/value cache most models use (`transformers.DynamicLayer`). Models with other
caches (sliding windows, linear attention) decode the same way, but a new group of prompts
starts only when the whole batch has finished.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)
from transformers.cache_utils import DynamicLayer

from coassist.llm.chat import GenerationSettings, TextCallback
from coassist.llm.degenerate import LOOP_CHECK_TOKENS, is_degenerate

RowEnd = Literal["end token", "limit", "loop", "stopped"]
"""Why a row left the batch: it produced an end token, reached ``max_new_tokens``, began
repeating itself, or the stop event ended it."""


@dataclass
class DecodedRow:
    """One prompt's answer as the loop leaves it: tokens, why it ended, and its own timings.

    `admitted_at` is when its prompt began to be read (the call's start for the first
    group), so `first_token_at - admitted_at` is this row's own time to first token.
    """

    index: int
    prompt_ids: list[int]
    admitted_at: float = 0.0
    token_ids: list[int] = field(default_factory=list)
    first_token_at: float | None = None
    finished_at: float | None = None
    end: RowEnd | None = None


RowCallback = Callable[[DecodedRow], None]


class Decoder:
    """Decodes a queue of tokenised prompts, at most `width` rows at once.

    `on_row` is called with each row as it finishes (rows finish out of order). `on_text`
    streams the answer of prompt 0 piece by piece (a streamed answer is a queue of one); text
    ending in U+FFFD is held back (half of a multi-byte character).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        settings: GenerationSettings,
        end_ids: set[int],
        pad_id: int,
        device: torch.device,
        on_row: RowCallback,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        self.end_ids = end_ids
        self.pad_id = pad_id
        self.on_row = on_row
        self.on_text = on_text
        self.stop = stop
        self.processors = _logits_processors(settings)
        self.device = device
        self.rows: list[DecodedRow] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # [rows, cache length]: 1 where a row has a real token
        self.streamed = 0

    def run(self, prompts: Sequence[list[int]], width: int) -> None:
        """Decode every prompt; returns once each has been handed to `on_row`."""
        waiting = deque(DecodedRow(index, list(ids)) for index, ids in enumerate(prompts))
        with torch.inference_mode():
            while waiting or self.rows:
                room = width - len(self.rows)
                if waiting and room > 0 and (not self.rows or self._can_refill()):
                    admitted = [waiting.popleft() for _ in range(min(room, len(waiting)))]
                    self._choose(admitted, self._prefill(admitted))
                else:
                    self._choose(self.rows, self._step())
                if self.stop is not None and self.stop.is_set():
                    self._stop_all(waiting)
                    return
                self._retire_finished()

    def _prefill(self, admitted: list[DecodedRow]) -> torch.Tensor:
        """Read the new prompts in (left-padded among themselves), join their keys and values
        to the batch's cache, and return their next-token logits."""
        now = time.perf_counter()
        length = max(len(row.prompt_ids) for row in admitted)
        ids = torch.full((len(admitted), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(admitted), length), dtype=torch.long)
        for position, row in enumerate(admitted):
            row.admitted_at = row.admitted_at or now
            ids[position, length - len(row.prompt_ids) :] = torch.tensor(row.prompt_ids)
            mask[position, length - len(row.prompt_ids) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        output = self.model(
            input_ids=ids, attention_mask=mask, position_ids=_positions(mask), use_cache=True, logits_to_keep=1
        )
        self._join(admitted, output.cache, mask)
        return output.logits[:, -1, :]

    def _join(self, admitted: list[DecodedRow], cache: Any, mask: torch.Tensor) -> None:
        """Make the new rows' cache part of the batch's: both left-padded to one length."""
        if not self.rows:
            self.rows, self.cache, self.mask = list(admitted), cache, mask
            return
        assert self.mask is not None
        length = max(self.mask.shape[1], mask.shape[1])
        for layer, new_layer in zip(self.cache.layers, cache.layers, strict=True):
            layer.keys = torch.cat([_pad_left(layer.keys, length), _pad_left(new_layer.keys, length)])
            layer.values = torch.cat([_pad_left(layer.values, length), _pad_left(new_layer.values, length)])
        self.mask = torch.cat([_pad_left(self.mask, length), _pad_left(mask, length)])
        self.rows += admitted

    def _step(self) -> torch.Tensor:
        """One decoding step for every row in the batch: feed each its last token."""
        assert self.mask is not None
        last = torch.tensor([[row.token_ids[-1]] for row in self.rows], device=self.device)
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=1)
        positions = self.mask.sum(dim=1, keepdim=True) - 1
        output = self.model(
            input_ids=last, attention_mask=self.mask, position_ids=positions, cache=self.cache, use_cache=True
        )
        self.cache = output.cache
        return output.logits[:, -1, :]

    def _choose(self, rows: list[DecodedRow], logits: torch.Tensor) -> None:
        """Pick each unfinished row's next token and see whether that ends the row."""
        now = time.perf_counter()
        scores = logits.float()
        for position, row in enumerate(rows):
            if row.end is not None:
                continue  # kept in a batch that cannot drop rows; its outputs are ignored
            history = cast(torch.LongTensor, torch.tensor([row.prompt_ids + row.token_ids], device=scores.device))
            row_scores = self.processors(history, scores[position : position + 1])
            token = int(_pick(row_scores, self.settings.temperature > 0))
            row.token_ids.append(token)
            row.first_token_at = row.first_token_at or now
            row.end = self._row_end(row)
            if row.end is not None:
                row.finished_at = now
        self._stream()

    def _row_end(self, row: DecodedRow) -> RowEnd | None:
        if row.token_ids[-1] in self.end_ids:
            return "end token"
        if len(row.token_ids) % LOOP_CHECK_TOKENS == 0 and is_degenerate(self.text(row)):
            return "loop"
        if len(row.token_ids) >= self.settings.max_new_tokens:
            return "limit"
        return None

    def text(self, row: DecodedRow) -> str:
        return self.tokenizer.decode(row.token_ids, skip_special_tokens=True)

    def _stream(self, final: bool = False) -> None:
        """Hand `on_text` what prompt 0 decoded since the last piece (all of it when `final`)."""
        row = next((row for row in self.rows if row.index == 0), None)
        if self.on_text is None or row is None:
            return
        text = self.text(row)
        if len(text) > self.streamed and (final or not text.endswith("\ufffd")):
            piece, self.streamed = text[self.streamed :], len(text)
            self.on_text(piece)

    def _can_refill(self) -> bool:
        """Whether new rows can join a running batch: only a plain key/value cache can be joined."""
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def _retire_finished(self) -> None:
        """Hand finished rows on and drop them from the batch (all at once where it cannot drop rows)."""
        finished = [row for row in self.rows if row.end is not None]
        if not finished:
            return
        if len(finished) < len(self.rows) and not self._can_refill():
            return
        self._stream(final=True)
        kept = [position for position, row in enumerate(self.rows) if row.end is None]
        if kept:
            self._keep(kept)
        else:
            self.rows, self.cache, self.mask = [], None, None
        for row in finished:
            self.on_row(row)

    def _keep(self, positions: list[int]) -> None:
        """Keep only these rows of the batch, and drop the cache columns that are padding for all."""
        assert self.mask is not None
        index = torch.tensor(positions, device=self.device)
        mask = self.mask.index_select(0, index)
        first_real = int(mask.any(dim=0).int().argmax())
        self.mask = mask[:, first_real:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first_real:]
            layer.values = layer.values.index_select(0, index)[:, :, first_real:]
        self.rows = [self.rows[position] for position in positions]

    def _stop_all(self, waiting: deque[DecodedRow]) -> None:
        """End every row, decoding or still waiting, as stopped (the stop event was set)."""
        now = time.perf_counter()
        self._stream(final=True)
        for row in [*self.rows, *waiting]:
            if row.end is None:
                row.end, row.finished_at = "stopped", now
            self.on_row(row)
        self.rows, self.cache, self.mask = [], None, None


def _logits_processors(settings: GenerationSettings) -> LogitsProcessorList:
    """transformers' processors for these settings, in `generate`'s order."""
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.temperature > 0:
        processors.append(TemperatureLogitsWarper(settings.temperature))
        processors.append(TopPLogitsWarper(settings.top_p))
    return processors


def _pick(scores: torch.Tensor, sample: bool) -> torch.Tensor:
    if sample:
        return torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1)[0, 0]
    return scores.argmax(dim=-1)[0]


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Each token's position within its own row, padding skipped (as `generate` counts them)."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def _pad_left(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """`tensor` with zeros before its sequence dimension (2 for keys and values, 1 for a mask)."""
    missing = length - tensor.shape[-2 if tensor.dim() == 4 else 1]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[-2 if tensor.dim() == 4 else 1] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=-2 if tensor.dim() == 4 else 1)
