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

Two copies of the weights may share the work (`coassist.llm.loading.LoadedModel`): one reads
prompts in (`_prefill`, many tokens a pass: arithmetic-bound) and another decodes (`_step`,
one token a row: bound by reading the weights). On a CPU without bf16 arithmetic, fp32 reads
a prompt 6x faster than bf16, and bf16 decodes up to 2x faster than fp32; the prompt's keys
and values are cast to the decoding copy's dtype as they join the batch.

A batch of one decodes with prompt lookup: notebook answers copy column names, keys and error
text from their prompt, so the tokens that followed the latest earlier occurrence of the
answer's last few tokens (in the prompt or the answer so far) are a cheap guess at what comes
next. The step feeds the row's last token and that draft in one pass, which costs little more
than one token (the weights are read once), and keeps the draft up to the first token the
model would not have chosen, then the model's own token there. Each token is chosen exactly as
without a draft (same processors, same history, the loop and end checks after each), so a
greedy answer is the one greedy decoding gives, up to float rounding of a wider pass; sampled
answers keep their distribution (a drafted token is kept when the sample equals it). Wider
batches draft nothing: their rows already share each read of the weights, and verifying a
draft for each would make every step a small prefill.

With bf16 decoding weights on the CPU the greedy answer is the same bit for bit, not only up
to rounding (`use_row_exact_attention`): rounding to bf16 after every layer turns any
difference in the last bit into other tokens a few dozen tokens on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from transformers import (
    AttentionInterface,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from coassist.llm.chat import GenerationSettings, TextCallback
from coassist.llm.degenerate import LOOP_CHECK_TOKENS, is_degenerate

DRAFT_TOKENS = 8
"""Most tokens a prompt-lookup step drafts. A row's draft starts this long, grows by one after
a draft kept whole and halves after one the model departed from: a copy runs for a while,
and a miss says the answer has left it (docs/inference.md measures what lookup keeps)."""
LOOKUP_NGRAM = 3
"""The longest run of the answer's last tokens looked up in its prompt and answer; shorter
runs, down to one token, are tried when it is not found."""

ROW_EXACT_ATTENTION = "coassist-row-exact"
"""The attention implementation `use_row_exact_attention` gives a model (transformers' registry name)."""
_ROW_EXACT_QUERIES = 32
"""Most tokens of one row that attention computes row-exactly: a step and its draft, with
room to spare; longer inputs (prompts) go to sdpa, whose memory does not grow with their square."""
_ROW_EXACT_BLOCK = 64
"""Keys are padded with zeros to a multiple of this before the weighted sum of values: torch's
bf16 dot products reduce in chunks, so a sum over 300 keys and one over the same 300 followed
by zeros round alike only when neither ends in a partial chunk (16 on AVX2; 64 leaves room)."""

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
    draft_limit: int = 0
    """The longest draft the row's next lookup step may make (`DRAFT_TOKENS`)."""
    drafted: int = 0
    """Tokens prompt lookup drafted for this row, and of those `accepted`: what lookup earns."""
    accepted: int = 0


RowCallback = Callable[[DecodedRow], None]


class Decoder:
    """Decodes a queue of tokenised prompts, at most `width` rows at once.

    `model` reads prompts in and `decode_model` decodes (the same object, or a copy of the
    weights in another dtype). `on_row` is called with each row as it finishes (rows finish
    out of order). `on_text` streams the answer of prompt 0 piece by piece (a streamed answer
    is a queue of one); text ending in U+FFFD is held back (half of a multi-byte character).
    `draft_tokens` 0 turns prompt lookup off.
    """

    def __init__(
        self,
        model: Any,
        decode_model: Any,
        tokenizer: Any,
        settings: GenerationSettings,
        end_ids: set[int],
        pad_id: int,
        device: torch.device,
        on_row: RowCallback,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
        draft_tokens: int = DRAFT_TOKENS,
    ) -> None:
        self.model = model
        self.decode_model = decode_model
        self.draft_tokens = draft_tokens
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
        waiting = deque(DecodedRow(index, list(ids), draft_limit=self.draft_tokens) for index, ids in enumerate(prompts))
        with torch.inference_mode():
            while waiting or self.rows:
                room = width - len(self.rows)
                if waiting and room > 0 and (not self.rows or self._plain_cache()):
                    admitted = [waiting.popleft() for _ in range(min(room, len(waiting)))]
                    self._choose(admitted, self._prefill(admitted))
                else:
                    draft = self._draft()
                    self._settle_draft(draft, self._choose(self.rows, self._step(draft), draft))
                if self.stop is not None and self.stop.is_set():
                    self._stop_all(waiting)
                    return
                self._retire_finished()

    def _prefill(self, admitted: list[DecodedRow]) -> torch.Tensor:
        """Read the new prompts in (left-padded among themselves), join their keys and values
        to the batch's cache, and return their next-token logits ([rows, 1, vocabulary])."""
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
        self._join(admitted, self._for_decoding(output.cache), mask)
        return output.logits[:, -1:, :]

    def _for_decoding(self, cache: Any) -> Any:
        """The prompts' cache in the decoding copy's dtype, where another copy decodes (every
        floating tensor a cache layer holds: keys and values, or a linear layer's states)."""
        if self.decode_model is self.model:
            return cache
        dtype = self.decode_model.dtype
        for layer in cache.layers:
            for name, value in list(vars(layer).items()):
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    setattr(layer, name, value.to(dtype))
        return cache

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

    def _draft(self) -> list[int]:
        """A batch of one's prompt-lookup draft, no longer than the answer has room for; none
        for a wider batch, or where the cache is not the plain one `_settle_draft` can crop."""
        if len(self.rows) != 1 or not self.draft_tokens or not self._plain_cache():
            return []
        row = self.rows[0]
        room = self.settings.max_new_tokens - len(row.token_ids) - 1  # the step adds one token of its own
        return lookup_draft(row.prompt_ids + row.token_ids, min(row.draft_limit, room))

    def _step(self, draft: list[int]) -> torch.Tensor:
        """One decoding step for every row: feed each its last token, and a batch of one its
        draft after it; returns the logits after each fed token ([rows, 1 + len(draft), vocabulary])."""
        assert self.mask is not None
        fed = torch.tensor([[row.token_ids[-1], *draft] for row in self.rows], device=self.device)
        seen = self.mask.sum(dim=1, keepdim=True)
        self.mask = torch.cat([self.mask, self.mask.new_ones(fed.shape)], dim=1)
        positions = seen + torch.arange(fed.shape[1], device=self.device)
        output = self.decode_model(
            input_ids=fed, attention_mask=self.mask, position_ids=positions, cache=self.cache, use_cache=True
        )
        self.cache = output.cache
        return output.logits

    def _settle_draft(self, draft: list[int], kept: int) -> None:
        """After a batch of one verified `draft` and kept its first `kept` tokens: drop the rest
        from the cache (the model did not choose them), and size the row's next draft."""
        if not draft:
            return
        row = self.rows[0]
        row.drafted, row.accepted = row.drafted + len(draft), row.accepted + kept
        row.draft_limit = min(row.draft_limit + 1, self.draft_tokens) if kept == len(draft) else max(row.draft_limit // 2, 1)
        rejected = len(draft) - kept
        if rejected:
            assert self.mask is not None
            for layer in self.cache.layers:
                layer.crop(-rejected)
            self.mask = self.mask[:, :-rejected]

    def _choose(self, rows: list[DecodedRow], logits: torch.Tensor, draft: Sequence[int] = ()) -> int:
        """Pick each unfinished row's next tokens from its logits ([rows, positions, vocabulary])
        and see whether they end the row; return how many drafted tokens were kept."""
        now = time.perf_counter()
        scores = logits.float()
        kept = 0
        for position, row in enumerate(rows):
            if row.end is None:  # else kept in a batch that cannot drop rows; its outputs are ignored
                kept = self._take(row, scores[position], draft, now)
        self._stream()
        return kept

    def _take(self, row: DecodedRow, scores: torch.Tensor, draft: Sequence[int], now: float) -> int:
        """Append the tokens one row's scores ([1 + len(draft), vocabulary]) choose, each as if
        alone: its processors see the row's tokens so far, and the end checks run after each.
        Stop at the first token that ends the row or differs from the draft (or after the one
        past the draft); return how many drafted tokens came before it."""
        for offset in range(len(draft) + 1):
            history = cast(torch.LongTensor, torch.tensor([row.prompt_ids + row.token_ids], device=scores.device))
            token = int(_pick(self.processors(history, scores[offset : offset + 1]), self.settings.temperature > 0))
            row.token_ids.append(token)
            row.first_token_at = row.first_token_at or now
            row.end = self._row_end(row)
            if row.end is not None:
                row.finished_at = now
            if row.end is not None or offset == len(draft) or token != draft[offset]:
                return offset
        raise AssertionError("unreachable: the last offset always returns")

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

    def _plain_cache(self) -> bool:
        """Whether the cache is the plain per-layer key/value cache, which this loop can join
        (new rows), cut (finished rows) and crop (rejected drafts)."""
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def _retire_finished(self) -> None:
        """Hand finished rows on and drop them from the batch (all at once where it cannot drop rows)."""
        finished = [row for row in self.rows if row.end is not None]
        if not finished:
            return
        if len(finished) < len(self.rows) and not self._plain_cache():
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


def use_row_exact_attention(model: Any) -> bool:
    """Have a bf16 CPU model compute one row's attention so that each token's output is the
    same whether it is fed alone or with a draft after it; return whether it was changed.

    A decoding step feeds one token, a prompt-lookup step the token and its draft; greedy
    decoding with lookup gives greedy's answer only when the two agree to the last bit. torch's
    CPU bf16 matmul computes each output row the same whatever the number of rows (fp32
    dot products per element; where a lone row is the exception, `coassist.llm.packed` sends it
    through as a pair), so the linear layers agree; sdpa does not (it lays grouped
    queries out differently for one token than for several), and neither does a weighted sum
    over a different number of keys (`_ROW_EXACT_BLOCK`). fp32 matmuls (MKL) differ in the
    last bit between one row and several, but fp32 keeps such a difference far below a token's
    margin, so fp32 models keep sdpa. Only models on sdpa are changed: others may need what
    `_row_exact_attention` does not do.
    """
    if model.device.type != "cpu" or model.dtype != torch.bfloat16:
        return False
    if model.config._attn_implementation not in {"sdpa", ROW_EXACT_ATTENTION}:
        return False
    AttentionInterface.register(ROW_EXACT_ATTENTION, _row_exact_attention)
    AttentionMaskInterface.register(ROW_EXACT_ATTENTION, sdpa_mask)
    model.set_attn_implementation(ROW_EXACT_ATTENTION)
    return True


def _row_exact_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention for one row of at most `_ROW_EXACT_QUERIES` tokens, computed so each query's
    output does not depend on how many queries come with it (`use_row_exact_attention`); sdpa
    for anything else: batches, prompts, and the features it has and this has not.

    Shapes as transformers passes them: query [1, heads, queries, dim], key and value
    [1, key heads, keys, dim]; returns [1, queries, heads, dim]. The softmax is fp32; the
    matmuls are the model's dtype with fp32 sums.
    """
    batch, heads, queries, dim = query.shape
    special = dropout or any(kwargs.get(name) is not None for name in ("sliding_window", "softcap", "s_aux", "position_bias"))
    if batch != 1 or queries > _ROW_EXACT_QUERIES or special:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    key_heads, keys = key.shape[1], key.shape[2]
    groups = heads // key_heads  # query heads sharing one key head sit next to each other
    scale = dim**-0.5 if scaling is None else scaling
    scores = torch.matmul((query * scale).reshape(1, key_heads, groups * queries, dim), key.transpose(2, 3))
    if attention_mask is None and queries > 1:  # sdpa_mask leaves a plain causal mask to sdpa
        attention_mask = torch.ones(queries, keys, dtype=torch.bool, device=query.device).tril(keys - queries)
    if attention_mask is not None:
        grouped = scores.view(1, key_heads, groups, queries, keys)
        if attention_mask.dtype == torch.bool:
            grouped = grouped.masked_fill(~attention_mask, float("-inf"))
        else:
            grouped = grouped + attention_mask
        scores = grouped.view(1, key_heads, groups * queries, keys)
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(value.dtype)
    padding = -keys % _ROW_EXACT_BLOCK
    output = torch.matmul(F.pad(weights, (0, padding)), F.pad(value, (0, 0, 0, padding)))
    return output.view(1, heads, queries, dim).transpose(1, 2).contiguous(), None


def lookup_draft(tokens: Sequence[int], limit: int, longest: int = LOOKUP_NGRAM) -> list[int]:
    """Prompt-lookup drafting: the at most `limit` tokens that followed the latest earlier
    occurrence of the last `longest` tokens, or of fewer (down to the last one) when those
    never occurred before; none when not even the last token did.

    The latest occurrence, since an answer copies most from what it has just read or written.

    >>> lookup_draft([5, 6, 7, 8, 9, 6, 7], limit=2)
    [8, 9]
    >>> lookup_draft([5, 6, 7, 8, 9, 4, 7], limit=3)
    [8, 9, 4]
    >>> lookup_draft([5, 6, 7], limit=3)
    []
    """
    for length in range(min(longest, len(tokens) - 1), 0, -1):
        tail = list(tokens[-length:])
        for start in range(len(tokens) - length - 1, -1, -1):
            if tokens[start + length - 1] == tail[-1] and list(tokens[start : start + length]) == tail:
                return list(tokens[start + length : start + length + limit])
    return []


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
