"""Chat JSONL reading and answer-only masking, on the tiny ChatML tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from coassist.errors import InvalidTrainingData
from coassist.train.sft_data import (
    IGNORE_INDEX,
    ChatExample,
    CompletionExample,
    collate,
    read_sft_jsonl,
    tokenize_conversation,
    tokenize_example,
)


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_only_assistant_turns_are_labelled(tokenizer) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "add two numbers"},
        {"role": "assistant", "content": "def add(a, b):"},
        {"role": "user", "content": "and sort?"},
        {"role": "assistant", "content": "sorted(a)"},
    ]
    example = tokenize_conversation(tokenizer, ChatExample(messages, "mem", 1), max_length=256)

    # The rendering, cut where each turn starts: context pieces are masked, answers are kept.
    context_1 = ids(
        tokenizer,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nadd two numbers<|im_end|>\n<|im_start|>assistant\n",
    )
    answer_1 = ids(tokenizer, "def add(a, b):<|im_end|>\n")
    context_2 = ids(tokenizer, "<|im_start|>user\nand sort?<|im_end|>\n<|im_start|>assistant\n")
    answer_2 = ids(tokenizer, "sorted(a)<|im_end|>\n")
    assert example.input_ids == context_1 + answer_1 + context_2 + answer_2
    assert example.labels == (
        [IGNORE_INDEX] * len(context_1) + answer_1 + [IGNORE_INDEX] * len(context_2) + answer_2
    )
    assert example.supervised_tokens == len(answer_1) + len(answer_2)
    # the end-of-turn marker is supervised, so the model learns to stop
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in answer_1


def test_truncation_cuts_on_the_right(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "def add(a, b): return a + b"},
    ]
    full = tokenize_conversation(tokenizer, ChatExample(messages, "mem", 1), max_length=256)
    cut = tokenize_conversation(tokenizer, ChatExample(messages, "mem", 1), max_length=10)
    assert cut.input_ids == full.input_ids[:10]
    assert cut.labels == full.labels[:10]


def test_collate_pads_with_ignored_labels(tokenizer) -> None:
    short = tokenize_conversation(
        tokenizer,
        ChatExample([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "m", 1),
        256,
    )
    long = tokenize_conversation(
        tokenizer,
        ChatExample(
            [{"role": "user", "content": "a b c d"}, {"role": "assistant", "content": "e f g"}], "m", 2
        ),
        256,
    )
    batch = collate([short, long], pad_token_id=0)
    n, m = len(short.input_ids), len(long.input_ids)
    assert batch["input_ids"].shape == (2, m)
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (m - n)
    assert batch["labels"][0].tolist() == short.labels + [IGNORE_INDEX] * (m - n)
    assert batch["input_ids"][0, n:].tolist() == [0] * (m - n)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})


def test_reads_conversations_with_line_numbers(tmp_path: Path) -> None:
    examples = read_sft_jsonl(write_lines(tmp_path / "ok.jsonl", [GOOD, GOOD, ""]))
    assert [e.line for e in examples] == [1, 2]
    assert examples[0].messages == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"line 2 is not valid JSON"),
        ("[1, 2]", r"line 2 is a JSON list, not an object"),
        ('{"text": "x"}', r'line 2 has no "messages" list'),
        ('{"messages": [{"role": "bot", "content": "x"}]}', r"line 2: message 0 has role 'bot'"),
        (
            '{"messages": [{"role": "user", "content": 3}]}',
            r'line 2: message 0 \(user\) needs a string "content"',
        ),
        ('{"messages": [{"role": "user", "content": "x"}]}', r"line 2 has no assistant message"),
        ("", r"line 2 is empty"),
    ],
)
def test_malformed_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, line, GOOD])
    with pytest.raises(InvalidTrainingData, match=message) as raised:
        read_sft_jsonl(path)
    assert raised.value.line == 2
    assert raised.value.source == str(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidTrainingData, match="is empty"):
        read_sft_jsonl(write_lines(tmp_path / "empty.jsonl", []))
    with pytest.raises(InvalidTrainingData, match="no training file"):
        read_sft_jsonl(tmp_path / "missing.jsonl")


def test_a_plain_continuation_is_tokenized_as_continue_text_reads_it(tokenizer) -> None:
    example = CompletionExample("def add(a, b):", "\n    return a + b", "mem", 1)
    tokenized = tokenize_example(tokenizer, example, max_length=256)
    prompt = tokenizer("def add(a, b):", add_special_tokens=True)["input_ids"]
    answer = ids(tokenizer, "\n    return a + b") + [tokenizer.eos_token_id]
    assert tokenized.input_ids == prompt + answer
    assert tokenized.labels == [IGNORE_INDEX] * len(prompt) + answer  # it learns to stop, too


def test_reads_both_kinds_of_line(tmp_path: Path) -> None:
    completion = json.dumps({"prompt": "x = ", "completion": "1"})
    examples = read_sft_jsonl(write_lines(tmp_path / "mixed.jsonl", [GOOD, completion]))
    assert isinstance(examples[0], ChatExample)
    assert examples[1] == CompletionExample("x = ", "1", str(tmp_path / "mixed.jsonl"), 2)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": "x = "}', r'line 1 needs a string "prompt" and a string "completion"'),
        ('{"prompt": 3, "completion": "1"}', r'line 1 needs a string "prompt" and a string "completion"'),
        ('{"prompt": "x = ", "completion": ""}', r'line 1 has an empty "completion"'),
    ],
)
def test_malformed_continuations_are_named(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(InvalidTrainingData, match=message):
        read_sft_jsonl(write_lines(tmp_path / "bad.jsonl", [line]))
