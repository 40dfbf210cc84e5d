"""SFT data: read JSONL, tokenize, mask everything but answers.

Two kinds of line, the two formats Hugging Face's trainers know:

- a conversation, ``{"messages": [{"role": ..., "content": ...}, ...]}``, rendered with the
  model's chat template: how `%%assist` questions reach the model;
- a plain continuation, ``{"prompt": "...", "completion": "..."}``, no template: how inline
  completion reaches it (`ChatModel.continue_text`).

The model learns only from the answers: system and user tokens, and a continuation's prompt,
are context, so their labels are -100 (ignored by the loss). In a conversation masking is done
on characters, not tokens: the chat template is rendered once, the character span of each
assistant turn is found from the rendering of the conversation up to it, and a token is
supervised when it starts inside such a span. That stays exact whatever the tokenizer merges
across turn boundaries. A continuation's prompt is tokenized on its own, exactly as
`continue_text` tokenizes the text it continues, and its completion after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coassist.errors import InvalidTrainingData
from coassist.llm.chat import Message
from coassist.train._jsonl import read_jsonl

IGNORE_INDEX = -100
"""Label of a token the loss skips (PyTorch's `cross_entropy` default `ignore_index`)."""

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatExample:
    """One conversation to learn from, with the line it came from (for messages)."""

    messages: list[Message]
    source: str
    line: int


@dataclass(frozen=True)
class CompletionExample:
    """One plain continuation to learn from: `completion` follows `prompt`, no chat template."""

    prompt: str
    completion: str
    source: str
    line: int


SftExample = ChatExample | CompletionExample
"""A line of SFT JSONL: a conversation or a plain continuation."""


@dataclass(frozen=True)
class TokenizedExample:
    """Token ids and labels of one conversation; `labels[i]` is `input_ids[i]` or -100."""

    input_ids: list[int]
    labels: list[int]
    source: str
    line: int

    @property
    def supervised_tokens(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def read_sft_jsonl(path: str | Path) -> list[SftExample]:
    """Examples from a JSONL file: per line, one `{"messages": [{"role", "content"}, ...]}` or
    one `{"prompt": "...", "completion": "..."}`.

    Raises
    ------
    InvalidTrainingData
        Naming the line: neither a `messages` list nor a `prompt` and `completion`, a role other
        than system/user/assistant, non-string content, or nothing to learn (no assistant turn,
        an empty completion).
    """
    examples: list[SftExample] = []
    for line, record in read_jsonl(path):
        where = f"{path} line {line}"
        if "messages" not in record and ("prompt" in record or "completion" in record):
            examples.append(_completion_example(record, where, str(path), line))
        else:
            examples.append(_chat_example(record, where, str(path), line))
    return examples


def _completion_example(record: dict[str, Any], where: str, source: str, line: int) -> CompletionExample:
    prompt, completion = record.get("prompt"), record.get("completion")
    if not isinstance(prompt, str) or not isinstance(completion, str):
        raise InvalidTrainingData(
            f'{where} needs a string "prompt" and a string "completion", like {{"prompt": "def add(a, b):", '
            '"completion": "\\n    return a + b"}',
            source,
            line,
        )
    if not completion:
        raise InvalidTrainingData(f'{where} has an empty "completion", so there is nothing to learn', source, line)
    return CompletionExample(prompt, completion, source, line)


def _chat_example(record: dict[str, Any], where: str, source: str, line: int) -> ChatExample:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidTrainingData(
            f'{where} has no "messages" list; each line must look like '
            '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]} '
            '(or {"prompt": "...", "completion": "..."} for a plain continuation)',
            source,
            line,
        )
    for turn, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise InvalidTrainingData(
                f"{where}: message {turn} has role {message.get('role') if isinstance(message, dict) else message!r}; "
                f"use one of {', '.join(ROLES)}",
                source,
                line,
            )
        if not isinstance(message.get("content"), str):
            raise InvalidTrainingData(
                f'{where}: message {turn} ({message["role"]}) needs a string "content"', source, line
            )
    if not any(message["role"] == "assistant" for message in messages):
        raise InvalidTrainingData(
            f"{where} has no assistant message, so there is nothing to learn; add the answer "
            '{"role": "assistant", "content": "..."}',
            source,
            line,
        )
    return ChatExample([{"role": m["role"], "content": m["content"]} for m in messages], source, line)


def tokenize_example(tokenizer: Any, example: SftExample, max_length: int) -> TokenizedExample:
    """Token ids and answer-only labels of either kind of example (cut to `max_length`)."""
    if isinstance(example, CompletionExample):
        return tokenize_completion(tokenizer, example, max_length)
    return tokenize_conversation(tokenizer, example, max_length)


def tokenize_completion(tokenizer: Any, example: CompletionExample, max_length: int) -> TokenizedExample:
    """The prompt tokenized as `continue_text` tokenizes it (the tokenizer's usual special
    tokens), then the completion and the end token, the only supervised part: the model learns
    the continuation and where it stops.

    An empty prompt is the start of a document, as in `continue_text`: the begin token, or the
    end token where there is none.
    """
    prompt_ids: list[int] = tokenizer(example.prompt, add_special_tokens=True)["input_ids"]
    if not prompt_ids:
        begin = tokenizer.bos_token_id
        prompt_ids = [begin if begin is not None else tokenizer.eos_token_id]
    answer_ids = tokenizer(example.completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return TokenizedExample(input_ids, labels, example.source, example.line)


def tokenize_conversation(tokenizer: Any, example: ChatExample, max_length: int) -> TokenizedExample:
    """Render with the chat template, tokenize, and label only the assistant turns.

    Each supervised span runs from the first character of the answer through the template's
    end-of-turn marker (``<|im_end|>`` for ChatML), so the model also learns when to stop.
    Conversations longer than `max_length` tokens are cut on the right.

    Examples
    --------
    With a ChatML template, ``user: hi`` / ``assistant: yo`` renders as
    ``<|im_start|>user\\nhi<|im_end|>\\n<|im_start|>assistant\\nyo<|im_end|>\\n``; only the
    tokens of ``yo<|im_end|>\\n`` get labels, the rest are -100.
    """
    messages = example.messages
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []  # character [start, end) of each assistant turn in `text`
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = tokenizer.apply_chat_template(messages[:index], tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (text.startswith(through) and through.startswith(prompt)):
            raise InvalidTrainingData(
                f"{example.source} line {example.line}: the tokenizer's chat template does not render a "
                "conversation as a prefix of its continuation, so answers cannot be located; use a model "
                "whose template appends turns (ChatML, Llama 3, ...)",
                example.source,
                example.line,
            )
        spans.append((len(prompt), len(through)))
    encoded = tokenizer(
        text, add_special_tokens=False, return_offsets_mapping=True, truncation=True, max_length=max_length
    )
    input_ids: list[int] = encoded["input_ids"]
    labels = [
        token if any(start <= offset[0] < end for start, end in spans) else IGNORE_INDEX
        for token, offset in zip(input_ids, encoded["offset_mapping"], strict=True)
    ]
    return TokenizedExample(input_ids, labels, example.source, example.line)


def collate(examples: list[TokenizedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch; padded positions get attention 0 and label -100.

    Returns ``input_ids``, ``attention_mask`` and ``labels``, each (batch, longest) int64.
    """
    longest = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), longest), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        input_ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
