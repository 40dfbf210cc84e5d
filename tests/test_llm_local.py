"""The local chat model on a tiny random Llama: streaming, stopping, limits, batching, adapters."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from coassist.errors import PromptTooLong
from coassist.llm import GenerationSettings, load_chat_model

QUESTION = [{"role": "user", "content": "Write a function that sorts a list."}]


def test_streamed_pieces_add_up_to_the_answer(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    pieces: list[str] = []
    answer = model.generate(QUESTION, GenerationSettings(max_new_tokens=16), on_text=pieces.append).text
    assert len(pieces) > 1
    assert "".join(pieces) == answer


def test_greedy_generation_is_reproducible(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    settings = GenerationSettings(max_new_tokens=12)
    assert model.generate(QUESTION, settings).text == model.generate(QUESTION, settings).text


def test_stop_event_ends_generation_early(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    stop = threading.Event()
    tokens: list[str] = []

    def on_text(piece: str) -> None:
        tokens.append(piece)
        if len(tokens) == 3:
            stop.set()

    generation = model.generate(QUESTION, GenerationSettings(max_new_tokens=64), on_text=on_text, stop=stop)
    assert generation.finish == "interrupted"
    # The criterion is checked after each token: stopping after the third piece leaves at most
    # one more, far below the 64 allowed.
    assert 3 <= len(tokens) <= 4


def test_prompt_over_the_context_is_refused_before_generation(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    long_prompt = [{"role": "user", "content": "def add(a, b): return a + b\n" * 60}]
    with pytest.raises(PromptTooLong) as caught:
        model.generate(long_prompt, GenerationSettings(max_new_tokens=8))
    error = caught.value
    assert error.context_length == 256 and error.prompt_tokens > 248
    assert "--max-new-tokens" in str(error) and "--reset" in str(error)


def test_answer_room_counts_against_the_context(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    tokens = model.count_tokens(QUESTION)
    fits = GenerationSettings(max_new_tokens=256 - tokens)
    too_long = GenerationSettings(max_new_tokens=256 - tokens + 1)
    model.check_fits(tokens, fits)
    with pytest.raises(PromptTooLong):
        model.check_fits(tokens, too_long)


def test_batched_answers_match_one_by_one(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    settings = GenerationSettings(max_new_tokens=8)
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "Explain the error and fix the code in this function please."}],
    ]
    assert model.generate_batch(conversations, settings) == [model.generate(c, settings).text for c in conversations]


def test_render_prompt_uses_the_chat_template(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    assert model.render_prompt(QUESTION) == (
        "<|im_start|>user\nWrite a function that sorts a list.<|im_end|>\n<|im_start|>assistant\n"
    )


def test_peft_adapter_loads_over_its_base_spec(tiny_model_dir: Path, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.peft_config["default"].base_model_name_or_path = str(tiny_model_dir)
    lora.save_pretrained(tmp_path)
    adapted = load_chat_model(str(tmp_path))
    plain = load_chat_model(str(tiny_model_dir))
    described = adapted.describe()
    assert described["kind"] == "peft" and described["adapter"] == str(tmp_path.resolve())
    settings = GenerationSettings(max_new_tokens=6)
    # Random non-zero LoRA weights change the logits, so the answers differ from the base's.
    assert adapted.generate(QUESTION, settings).text != plain.generate(QUESTION, settings).text


def test_a_path_object_is_a_spec(tiny_model_dir: Path) -> None:
    assert load_chat_model(tiny_model_dir) is load_chat_model(str(tiny_model_dir))


def test_a_model_directory_rewritten_in_place_is_loaded_again(tiny_model_dir: Path, tmp_path: Path) -> None:
    import os
    import shutil

    copy = tmp_path / "retrained"
    shutil.copytree(tiny_model_dir, copy)
    first = load_chat_model(copy)
    assert load_chat_model(copy) is first
    weights = copy / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1_000_000))
    assert load_chat_model(copy) is not first


def test_repetition_penalty_reaches_generate_only_when_set(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = load_chat_model(str(tiny_model_dir))
    real_generate = model.model.generate
    seen: list[object] = []

    def spy(**kwargs: object) -> object:
        seen.append(kwargs.get("repetition_penalty", "absent"))
        return real_generate(**kwargs)

    monkeypatch.setattr(model.model, "generate", spy)
    plain = model.generate(QUESTION, GenerationSettings(max_new_tokens=12)).text
    penalised = model.generate(QUESTION, GenerationSettings(max_new_tokens=12, repetition_penalty=50.0)).text
    model.generate_batch([QUESTION], GenerationSettings(max_new_tokens=2, repetition_penalty=1.3))
    assert seen == ["absent", 50.0, 1.3]
    assert penalised != plain  # transformers applied it: greedy decoding no longer repeats its tokens


def test_a_loop_ends_generation_at_the_next_check() -> None:
    from types import SimpleNamespace

    from coassist.llm.local import _StopOnLoop

    looping = SimpleNamespace(token_ids=[7] * 16, text="Missing:\n" + "- units_revenue\n" * 5)
    between_checks = SimpleNamespace(token_ids=[7] * 15, text=looping.text)
    healthy = SimpleNamespace(token_ids=[7] * 16, text="Missing: `price` (2 nulls) and `region` (1).")
    assert _StopOnLoop(looping)(None, None) is True  # type: ignore[arg-type]
    assert _StopOnLoop(between_checks)(None, None) is False  # type: ignore[arg-type]
    assert _StopOnLoop(healthy)(None, None) is False  # type: ignore[arg-type]


def test_continue_text_continues_without_the_chat_template(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    generation = model.continue_text("def add(a, b):\n", GenerationSettings(max_new_tokens=6))
    assert generation.new_tokens <= 6 and generation.finish in {"stop", "length", "repetition"}
    # The chat template would wrap the text in <|im_start|> turns; a plain continuation does not.
    assert model.count_tokens([{"role": "user", "content": "def add(a, b):\n"}]) > len(
        model.tokenizer("def add(a, b):\n")["input_ids"]
    )
