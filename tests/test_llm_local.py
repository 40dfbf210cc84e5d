"""The local chat model on a tiny random Llama: streaming, stopping, limits, batching, adapters."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from coassist.errors import PromptTooLong
from coassist.llm import GenerationSettings, load_chat_model
from coassist.llm.chat import Generation

QUESTION = [{"role": "user", "content": "Write a function that sorts a list."}]
EXACT = "float32"
"""The dtype of tests comparing batched answers with single ones, or with transformers'
`generate`: fp32 rounding leaves a random model's greedy tokens alone, where the CPU default
(bf16-decode) rounds batches (sdpa) and single rows (row-exact attention) differently."""


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


def _outcome(generation: Generation) -> tuple[str, str, int]:
    return generation.text, generation.finish, generation.new_tokens


def test_batched_answers_match_one_by_one(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir), dtype=EXACT)
    settings = GenerationSettings(max_new_tokens=8)
    conversations = [
        [{"role": "user", "content": "hi"}],
        [{"role": "user", "content": "Explain the error and fix the code in this function please."}],
    ]
    batch = model.generate_batch(conversations, settings)
    assert [_outcome(g) for g in batch] == [_outcome(model.generate(c, settings)) for c in conversations]
    # Rows share the batch's timings: its first step, and its wall time.
    assert len({(g.first_token_seconds, g.seconds) for g in batch}) == 1
    texts = ["def add(a, b):\n", "import pandas as pd\ndf = pd.read_csv('data.csv')\n"]
    continued = model.continue_text_batch(texts, settings)
    assert [_outcome(g) for g in continued] == [_outcome(model.continue_text(t, settings)) for t in texts]
    assert model.generate_batch([], settings) == [] and model.continue_text_batch([], settings) == []


def test_each_row_of_a_batch_stops_on_its_own(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One row ends early at an end token, another is stopped as a loop; the third runs to the limit."""
    model = load_chat_model(str(tiny_model_dir), dtype=EXACT)
    settings = GenerationSettings(max_new_tokens=24)
    conversations = [[{"role": "user", "content": text}] for text in ("hi", "Explain the error please.", "Sort a list.")]
    alone = [model.generate(c, settings) for c in conversations]
    assert all(g.finish == "length" for g in alone)  # random weights: nothing ends by itself
    ids = [_answer_ids(model, c, 24) for c in conversations]
    # Row 0's fourth token becomes an end token (one no other row makes), and row 1's answer
    # after 8 tokens counts as a loop.
    end_token = next(t for t in ids[0][3:] if all(t not in other for other in ids[1:]))
    monkeypatch.setattr(model, "_end_token_ids", lambda: {end_token})
    looping_start = model.generate(conversations[1], GenerationSettings(max_new_tokens=8)).text
    monkeypatch.setattr("coassist.llm.decoding.is_degenerate", lambda text: text.startswith(looping_start))

    ended, looped, cut_off = model.generate_batch(conversations, settings)
    assert ended.finish == "stop" and ended.new_tokens == ids[0].index(end_token) + 1 < 24
    assert alone[0].text.startswith(ended.text)
    assert looped.finish == "repetition" and looped.new_tokens == 8 and looped.text == looping_start.rstrip()
    assert _outcome(cut_off) == _outcome(alone[2])


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


def test_the_decoding_copy_carries_the_merged_adapter(tiny_model_dir: Path, tmp_path: Path) -> None:
    """bf16-decode copies the weights after the adapter is merged, so both halves answer with it;
    loaded to train (not merged), the weights are about to change and no copy is made."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from coassist.llm.loading import load_model_and_tokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.peft_config["default"].base_model_name_or_path = str(tiny_model_dir)
    lora.save_pretrained(tmp_path)
    plain = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="bf16-decode")

    merged = load_model_and_tokenizer(str(tmp_path), device="cpu", dtype="bf16-decode")

    name = "model.layers.0.self_attn.q_proj"  # compared by what it computes: the copy's may be packed
    hidden = torch.randn(1, 3, merged.model.config.hidden_size).to(torch.bfloat16)
    with torch.inference_mode():
        decoding = merged.decode_model.get_submodule(name)(hidden)
        merged_weight = merged.model.get_submodule(name).weight.to(torch.bfloat16)
        assert torch.equal(decoding, torch.nn.functional.linear(hidden, merged_weight))
        assert not torch.equal(decoding, plain.decode_model.get_submodule(name)(hidden))  # the adapter is in it
    training = load_model_and_tokenizer(str(tmp_path), device="cpu", dtype="bf16-decode", merge_adapter=False)
    assert training.decode_model is training.model


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


def test_repetition_penalty_reaches_decoding_only_when_set(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import RepetitionPenaltyLogitsProcessor

    model = load_chat_model(str(tiny_model_dir))
    seen: list[float] = []

    def spy(penalty: float) -> RepetitionPenaltyLogitsProcessor:
        seen.append(penalty)
        return RepetitionPenaltyLogitsProcessor(penalty)

    monkeypatch.setattr("coassist.llm.decoding.RepetitionPenaltyLogitsProcessor", spy)
    plain = model.generate(QUESTION, GenerationSettings(max_new_tokens=12)).text
    penalised = model.generate(QUESTION, GenerationSettings(max_new_tokens=12, repetition_penalty=50.0)).text
    model.generate_batch([QUESTION], GenerationSettings(max_new_tokens=2, repetition_penalty=1.3))
    model.continue_text_batch(["def"], GenerationSettings(max_new_tokens=2, repetition_penalty=1.2))
    assert seen == [50.0, 1.3, 1.2]
    assert penalised != plain  # applied: greedy decoding no longer repeats its tokens


def _answer_ids(model: Any, conversation: list[dict[str, str]], max_new_tokens: int) -> list[int]:
    """The token ids of the greedy answer alone, straight from transformers."""
    inputs = model.tokenizer.apply_chat_template(conversation, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    output = model.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return output[0, inputs["input_ids"].shape[1] :].tolist()


def test_a_finished_row_makes_room_for_the_next_prompt(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five prompts, two rows at a time: rows end at different steps, and each freed row takes
    the next prompt while the other row is mid-answer; every answer is the one given alone."""
    from coassist.llm.decoding import Decoder

    model = load_chat_model(str(tiny_model_dir), dtype=EXACT)
    settings = GenerationSettings(max_new_tokens=24)
    texts = ("hi", "Explain the error please.", "Sort a list.", "Why?", "Rename a column.")
    conversations = [[{"role": "user", "content": text}] for text in texts]
    ids = [_answer_ids(model, c, 24) for c in conversations]
    end_token = ids[0][3]  # row 0 ends at its 4th token; the others wherever they make it, or not at all
    monkeypatch.setattr(model, "_end_token_ids", lambda: {end_token})
    alone = [model.generate(c, settings) for c in conversations]
    assert len({g.new_tokens for g in alone}) > 1  # rows do end at different steps

    widths: list[int] = []
    joined_mid_answer: list[bool] = []
    real_step, real_prefill = Decoder._step, Decoder._prefill
    monkeypatch.setattr(Decoder, "_step", lambda self, draft: widths.append(len(self.rows)) or real_step(self, draft))
    monkeypatch.setattr(Decoder, "_prefill", lambda self, rows: joined_mid_answer.append(bool(self.rows)) or real_prefill(self, rows))
    heard: list[int] = []
    batched = model.generate_batch(conversations, settings, width=2, on_answer=lambda index, generation: heard.append(index))

    assert [_outcome(g) for g in batched] == [_outcome(g) for g in alone]
    assert max(widths) == 2 and any(joined_mid_answer)
    assert sorted(heard) == [0, 1, 2, 3, 4] and heard[0] == 0  # row 0 ends first


def test_continue_text_continues_without_the_chat_template(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    generation = model.continue_text("def add(a, b):\n", GenerationSettings(max_new_tokens=6))
    assert generation.new_tokens <= 6 and generation.finish in {"stop", "length", "repetition"}
    # The chat template would wrap the text in <|im_start|> turns; a plain continuation does not.
    assert model.count_tokens([{"role": "user", "content": "def add(a, b):\n"}]) > len(
        model.tokenizer("def add(a, b):\n")["input_ids"]
    )


def test_an_empty_text_is_continued_from_the_start_of_a_document(tiny_model_dir: Path) -> None:
    model = load_chat_model(str(tiny_model_dir))
    generation = model.continue_text("", GenerationSettings(max_new_tokens=4))
    assert generation.new_tokens >= 1 and generation.finish in {"stop", "length", "repetition"}


@pytest.mark.parametrize("width", [0, -1, 2.5, True])
def test_a_batch_width_that_decodes_nothing_is_refused_by_name(tiny_model_dir: Path, width: object) -> None:
    from coassist.errors import InvalidSetting

    model = load_chat_model(str(tiny_model_dir))
    with pytest.raises(InvalidSetting, match="width: must be a whole number >= 1"):
        model.generate_batch([QUESTION], GenerationSettings(max_new_tokens=2), width=width)  # type: ignore[arg-type]


def _spy_rows(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every decoded row, in the order its answer was finished (drafted and kept tokens included)."""
    from coassist.llm.local import LocalChatModel

    rows: list[Any] = []
    original = LocalChatModel._generation
    monkeypatch.setattr(LocalChatModel, "_generation", staticmethod(lambda text, row: rows.append(row) or original(text, row)))
    return rows


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "bf16-decode"])
def test_prompt_lookup_gives_the_tokens_greedy_decoding_gives(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    """Drafts verified in one pass keep greedy's answer token for token, with the repetition
    penalty on or off, for chats and plain text, cut at the token limit or at an end token
    met inside a draft; and lookup did draft, keep and reject tokens."""
    from coassist.llm.loading import load_model_and_tokenizer
    from coassist.llm.local import LocalChatModel

    loaded = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype=dtype)
    plain, lookup = LocalChatModel(loaded, draft_tokens=0), LocalChatModel(loaded)
    rows = _spy_rows(monkeypatch)
    texts = ["hi", "Explain the error and fix the code in this function please.", "import pandas as pd\ndf.describe()"]
    for penalty in (1.0, 1.3):
        settings = GenerationSettings(max_new_tokens=40, repetition_penalty=penalty)
        for text in texts:
            chat = [{"role": "user", "content": text}]
            assert _outcome(lookup.generate(chat, settings)) == _outcome(plain.generate(chat, settings))
            assert _outcome(lookup.continue_text(text, settings)) == _outcome(plain.continue_text(text, settings))
    drafted = sum(row.drafted for row in rows)
    kept = sum(row.accepted for row in rows)
    assert drafted > kept > 0  # both verdicts were exercised
    assert not any(row.drafted for row in rows[1::2])  # draft_tokens=0 drafts nothing

    # An end token inside a kept draft ends the answer there, as it does one token at a time.
    kept_row = next(row for row in rows[::2] if row.accepted)
    end_token = kept_row.token_ids[-2]
    monkeypatch.setattr(plain, "_end_token_ids", lambda: {end_token})
    monkeypatch.setattr(lookup, "_end_token_ids", lambda: {end_token})
    prompt = loaded.tokenizer.decode(kept_row.prompt_ids, skip_special_tokens=False)
    ended = lookup.continue_text(prompt, GenerationSettings(max_new_tokens=40))
    assert _outcome(ended) == _outcome(plain.continue_text(prompt, GenerationSettings(max_new_tokens=40)))
    assert ended.finish == "stop"


def test_a_batch_drafts_only_once_one_row_is_left(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of a wider batch share each read of the weights and draft nothing; the last row
    decoding drafts, and every answer is still the one given alone."""
    from coassist.llm.decoding import Decoder

    model = load_chat_model(str(tiny_model_dir), dtype=EXACT)
    settings = GenerationSettings(max_new_tokens=32)
    # The last prompt's answer repeats itself on this model, so its lone tail has drafts to make.
    texts = ("hi", "Sort.", "Explain the error and fix the code in this function please.")
    conversations = [[{"role": "user", "content": text}] for text in texts]
    drafts: list[tuple[int, int]] = []
    real_step = Decoder._step
    monkeypatch.setattr(Decoder, "_step", lambda self, draft: drafts.append((len(self.rows), len(draft))) or real_step(self, draft))
    # Two rows: row 0 ends at its 12th token and prompt 2 takes its place, so row 1 reaches the
    # limit first and row 2 decodes its last 12 tokens alone.
    ids = _answer_ids(model, conversations[0], 12)
    monkeypatch.setattr(model, "_end_token_ids", lambda: {ids[11]})
    alone = [model.generate(c, settings) for c in conversations]
    drafts.clear()

    batched = model.generate_batch(conversations, settings, width=2)

    assert [_outcome(g) for g in batched] == [_outcome(g) for g in alone]
    assert {width for width, drafted in drafts if drafted} == {1}
    assert any(width == 2 for width, _ in drafts)


def test_a_bf16_row_gives_the_same_bits_fed_a_token_at_a_time_or_with_its_draft(tiny_model_dir: Path) -> None:
    """The decoding copy's attention: logits after 15 tokens fed at once (a step and its draft)
    equal, bit for bit, those of 15 steps of one token. (With sdpa they differ here, on the
    development CPU: sdpa lays one query out differently than several.)"""
    import torch

    from coassist.llm.decoding import ROW_EXACT_ATTENTION
    from coassist.llm.loading import load_model_and_tokenizer

    decoding = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="bf16-decode").decode_model
    assert decoding.config._attn_implementation == ROW_EXACT_ATTENTION
    ids = torch.tensor([[(7 * i) % 300 + 3 for i in range(48)]])
    prompt, fed = ids[:, :33], ids[:, 33:]  # a 33-token prompt goes to sdpa either way

    def logits(pieces: list[torch.Tensor]) -> torch.Tensor:
        with torch.inference_mode():
            cache = decoding(input_ids=prompt, use_cache=True).cache
            outputs, seen = [], prompt.shape[1]
            for piece in pieces:
                positions = torch.arange(seen, seen + piece.shape[1])[None]
                mask = torch.ones(1, seen + piece.shape[1], dtype=torch.long)
                outputs.append(decoding(input_ids=piece, position_ids=positions, attention_mask=mask, cache=cache).logits)
                seen += piece.shape[1]
        return torch.cat(outputs, dim=1)

    assert torch.equal(logits([fed]), logits(list(fed.split(1, dim=1))))


@pytest.mark.slow
def test_prompt_lookup_gives_smollm2s_greedy_answers_token_for_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the real model and the CPU default (`auto`): a question whose answer copies
    column names from the prompt, where lookup keeps most drafts, and an error explanation,
    where sdpa's rounding made lookup's answer part from greedy's at the 15th token."""
    from coassist.llm.local import LocalChatModel

    model = load_chat_model("smollm2")
    plain = LocalChatModel(model.loaded, draft_tokens=0)  # type: ignore[attr-defined]
    rows = _spy_rows(monkeypatch)
    questions = [
        "The DataFrame `sales` has the columns order_id, customer_name, unit_price, quantity_ordered and "
        "ship_date. Which columns hold money or dates? Name them exactly.",
        "This cell failed:\n```python\ndf['revenue_total'].sum()\n```\nKeyError: 'revenue_total'\n"
        "The DataFrame has the columns revenue, units, region. Explain the error and fix the code.",
    ]
    settings = GenerationSettings(max_new_tokens=40)
    for question in questions:
        chat = [{"role": "user", "content": question}]
        assert _outcome(model.generate(chat, settings)) == _outcome(plain.generate(chat, settings))
    assert sum(row.accepted for row in rows) > 20
