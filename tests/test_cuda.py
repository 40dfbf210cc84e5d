"""The GPU path: loading, streaming, batching and LoRA training on CUDA.

Skipped on machines without a visible GPU (CI has none); run on a lent GPU with
``python -m pytest tests/test_cuda.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from coassist.llm import GenerationSettings, load_chat_model
from coassist.llm.chat import Generation
from coassist.train import finetune_lora
from tests.test_train_lora import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a visible CUDA GPU")

QUESTION = [{"role": "user", "content": "Write a function that sorts a list."}]


def test_auto_is_cuda_with_bf16(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    described = model.describe()
    assert described["device"].startswith("cuda") and described["dtype"] == "bfloat16"
    pieces: list[str] = []
    generation = model.generate(QUESTION, GenerationSettings(max_new_tokens=12), on_text=pieces.append)
    assert "".join(pieces) == generation.text
    assert generation.new_tokens >= 1 and generation.first_token_seconds is not None


def test_cut_off_answer_reports_length(tiny_model_dir: Path) -> None:
    # Random weights rarely emit the end token within 8 tokens: the answer is cut off.
    generation = load_chat_model(str(tiny_model_dir), device="cuda", dtype="float32").generate(
        QUESTION, GenerationSettings(max_new_tokens=8)
    )
    assert generation.new_tokens <= 8
    assert generation.finish == ("length" if generation.new_tokens == 8 else "stop")


def test_batched_answers_match_one_by_one_on_cuda(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir), device="cuda", dtype="float32")
    settings = GenerationSettings(max_new_tokens=8)
    conversations = [QUESTION, [{"role": "user", "content": "Explain the error and fix the code please."}]]
    assert [_outcome(g) for g in model.generate_batch(conversations, settings)] == [
        _outcome(model.generate(c, settings)) for c in conversations
    ]


def _outcome(generation: Generation) -> tuple[str, str, int]:
    return generation.text, generation.finish, generation.new_tokens


def test_lora_trains_on_cuda(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = finetune_lora(tiny_config(tiny_model_dir, tmp_path / "adapter", device="cuda"))
    assert result.eval_loss_after < result.eval_loss_before
    adapted = load_chat_model(str(result.adapter_dir), device="cuda")
    assert adapted.describe()["adapter"] and adapted.generate(QUESTION, GenerationSettings(max_new_tokens=4)).text
