"""LoRA fine-tuning: loss falls, checkpoints resume exactly, the adapter is a model spec."""

from __future__ import annotations

import json
import shutil
import typing
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from coassist.errors import InvalidTrainingData, NotEnoughData, UnknownModelSpec
from coassist.llm import GenerationSettings, load_chat_model, parse_model_spec
from coassist.train import LoraTrainingConfig, evaluate_loss, finetune_lora
from coassist.train.checkpoints import list_checkpoints
from coassist.train.lora import (
    _answer_loss,
    _answer_tokens,
    _base_spec_text,
    _learning_rate,
    _resume,
    _StepPlan,
    _train_step,
)
from coassist.train.sft_data import IGNORE_INDEX, collate, read_sft_jsonl, tokenize_example

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data" / "sft_example.jsonl"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(base: Path, out: Path, **overrides) -> LoraTrainingConfig:
    settings = dict(
        train_file=EXAMPLES,
        output_dir=out,
        base=str(base),
        max_steps=6,
        batch_size=4,
        learning_rate=1e-2,
        dropout=0.1,  # exercise the RNG, so an exact resume has to restore it
        max_length=192,
        checkpoint_every=3,
        eval_max_new_tokens=8,  # the held-out comparison is tested in test_train_eval.py; keep it short
        device="cpu",
        progress=False,
    )
    settings.update(overrides)
    return LoraTrainingConfig(**settings)


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One uninterrupted 6-step run with checkpoints at steps 3 and 6."""
    out = tmp_path_factory.mktemp("adapter")
    return finetune_lora(tiny_config(tiny_model_dir, out)), out


def test_held_out_loss_goes_down(trained) -> None:
    result, _ = trained
    assert result.eval_examples == 4  # round(36 * 0.1)
    assert result.train_examples == 32
    assert result.eval_loss_after < result.eval_loss_before - 0.05
    assert [record.step for record in result.history] == [1, 2, 3, 4, 5, 6]
    # linear decay from the peak: step k (0-based) of 6 runs at lr * (6 - k) / 6
    assert [round(record.learning_rate, 6) for record in result.history] == [
        round(1e-2 * (6 - k) / 6, 6) for k in range(6)
    ]
    assert all(record.tokens > 0 for record in result.history)


def test_adapter_records_base_spec_and_loads_as_model_spec(trained, tiny_model_dir: Path) -> None:
    result, out = trained
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir) == result.base
    assert (out / "tokenizer_config.json").is_file()
    summary = json.loads((out / "coassist_training.json").read_text())
    assert summary["eval_loss_after"] == pytest.approx(result.eval_loss_after)

    adapted = load_chat_model(str(out), device="cpu")
    base = load_chat_model(str(tiny_model_dir), device="cpu")
    assert adapted.describe()["adapter"] == str(out.resolve())
    prompt = adapted.tokenizer.apply_chat_template(
        [{"role": "user", "content": "sort a list"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        difference = (adapted.model(**prompt).logits - base.model(**prompt).logits).abs().max().item()
    assert difference > 1e-3  # the merged adapter changed the model
    pieces: list[str] = []
    answer = adapted.generate(
        [{"role": "user", "content": "sort a list"}], GenerationSettings(max_new_tokens=4), on_text=pieces.append
    ).text
    # One streamed piece per generated token at most (re-tokenising decoded noise is not 1:1).
    assert answer and "".join(pieces) == answer and len(pieces) <= 4


def test_resume_continues_at_the_checkpoint_with_identical_results(trained, tiny_model_dir, tmp_path) -> None:
    full, full_out = trained
    assert [path.name for path in list_checkpoints(full_out)] == ["step-000003", "step-000006"]
    # An "interrupted" run: only the step-3 checkpoint made it to disk.
    (tmp_path / "checkpoints").mkdir()
    shutil.copytree(full_out / "checkpoints" / "step-000003", tmp_path / "checkpoints" / "step-000003")

    resumed = finetune_lora(tiny_config(tiny_model_dir, tmp_path, resume=True))

    assert resumed.resumed_from == 3
    assert [record.step for record in resumed.history] == [4, 5, 6]
    assert [r.loss for r in resumed.history] == pytest.approx([r.loss for r in full.history[3:]], abs=1e-6)
    assert resumed.eval_loss_before == full.eval_loss_before  # carried in the checkpoint
    assert resumed.eval_loss_after == pytest.approx(full.eval_loss_after, abs=1e-6)
    expected = load_file(full_out / "adapter_model.safetensors")
    actual = load_file(tmp_path / "adapter_model.safetensors")
    assert expected.keys() == actual.keys()
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=1e-6)


def test_gradient_accumulation_matches_one_big_batch(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Two micro-batches of 2 take the same step as one batch of 4: the loss is per answer token."""
    # In file order: grouping by length would put other examples in the first step of each run.
    common = dict(max_steps=1, dropout=0.0, checkpoint_every=0, group_by_length=False)
    big = finetune_lora(tiny_config(tiny_model_dir, tmp_path / "big", batch_size=4, **common))
    accumulated = finetune_lora(
        tiny_config(tiny_model_dir, tmp_path / "acc", batch_size=2, grad_accumulation=2, **common)
    )
    assert accumulated.history[0].loss == pytest.approx(big.history[0].loss, rel=1e-5)
    assert accumulated.history[0].tokens == big.history[0].tokens
    assert accumulated.eval_loss_after == pytest.approx(big.eval_loss_after, rel=1e-5)


def test_too_few_conversations(tiny_model_dir: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    one.write_text(EXAMPLES.read_text().splitlines()[0] + "\n")
    with pytest.raises(NotEnoughData, match="has 1 conversation"):
        finetune_lora(tiny_config(tiny_model_dir, tmp_path / "out", train_file=one))


def test_malformed_training_file_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(EXAMPLES.read_text().splitlines()[0] + '\n{"messages": []}\n')
    with pytest.raises(InvalidTrainingData, match=r"bad.jsonl line 2 has no \"messages\" list"):
        finetune_lora(tiny_config(tiny_model_dir, tmp_path / "out", train_file=bad))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("eval_fraction", 0.0, "eval_fraction must be in"),
        ("max_steps", 0, "max_steps must be at least 1"),
        ("r", 0, "r must be positive"),
        ("dropout", 1.0, "dropout must be in"),
        ("checkpoint_every", -1, "checkpoint_every must be zero or more"),
        ("target_modules", (), "target_modules is empty"),
    ],
)
def test_config_validation(field: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoraTrainingConfig("train.jsonl", "out", **{field: value})


# --- the loop's named steps, one by one ---------------------------------------------------------


def tiny_batch(tiny_model_dir: Path, conversations: int) -> tuple[typing.Any, typing.Any, list, dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    chats = read_sft_jsonl(EXAMPLES)[:conversations]
    examples = [tokenize_example(tokenizer, chat, 192) for chat in chats]
    return model, tokenizer, examples, collate(examples, tokenizer.pad_token_id)


def test_one_loss_serves_training_and_evaluation(tiny_model_dir: Path) -> None:
    """`_answer_loss` is the summed next-token cross-entropy over answer tokens, by hand;
    `evaluate_loss` is that sum over the held-out set divided by `_answer_tokens`."""
    model, tokenizer, examples, batch = tiny_batch(tiny_model_dir, 3)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        expected, count = 0.0, 0
        for row in range(logits.shape[0]):
            for t in range(logits.shape[1] - 1):  # position t predicts token t + 1
                label = int(batch["labels"][row, t + 1])
                if label != IGNORE_INDEX:
                    expected -= torch.log_softmax(logits[row, t].float(), dim=-1)[label].item()
                    count += 1
        assert _answer_tokens(batch) == count > 0
        assert _answer_loss(model, batch).item() == pytest.approx(expected, rel=1e-5)
    # Two batches of different padding: the mean per answer token does not move.
    assert evaluate_loss(model, examples, 2, tokenizer.pad_token_id) == pytest.approx(expected / count, rel=1e-5)


def test_a_train_step_reports_the_loss_per_answer_token_of_the_whole_step(tiny_model_dir: Path) -> None:
    model, tokenizer, examples, _ = tiny_batch(tiny_model_dir, 4)
    micro = [collate(examples[:2], tokenizer.pad_token_id), collate(examples[2:], tokenizer.pad_token_id)]
    with torch.no_grad():
        expected = sum(_answer_loss(model, b).item() for b in micro) / sum(_answer_tokens(b) for b in micro)
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.5)

    loss = _train_step(model, optimizer, micro, learning_rate=1e-3, max_grad_norm=1.0)

    assert loss == pytest.approx(expected, rel=1e-5)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-3]  # the schedule's rate, not 0.5
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    assert all(p.grad is None for p in model.parameters())  # flushed for the next step


def test_step_plan_counts_steps_and_shortens_the_last_of_an_epoch_run() -> None:
    # 10 conversations in batches of 4: 3 micro-batches an epoch; 2 epochs, 3 per step: 2 steps.
    plan = _StepPlan.of(LoraTrainingConfig("t.jsonl", "o", epochs=2, batch_size=4, grad_accumulation=3), 10)
    assert plan.total == 2
    assert [list(plan.micro_batches(step)) for step in range(2)] == [[0, 1, 2], [3, 4, 5]]
    # 1 epoch of 3 micro-batches, 2 per step: the second step has only one.
    plan = _StepPlan.of(LoraTrainingConfig("t.jsonl", "o", epochs=1, batch_size=4, grad_accumulation=2), 10)
    assert plan.total == 2 and list(plan.micro_batches(1)) == [2]
    # max_steps: as many steps as asked, cycling through the data.
    plan = _StepPlan.of(LoraTrainingConfig("t.jsonl", "o", max_steps=5, grad_accumulation=2), 10)
    assert plan.total == 5 and list(plan.micro_batches(4)) == [8, 9]


def test_learning_rate_warms_up_then_decays_linearly() -> None:
    config = LoraTrainingConfig("t.jsonl", "o", max_steps=6, warmup_steps=2, learning_rate=1e-2)
    rates = [_learning_rate(config, step, 6) for step in range(6)]
    assert rates == pytest.approx([5e-3, 1e-2, 1e-2, 7.5e-3, 5e-3, 2.5e-3])


def test_no_checkpoint_resumes_at_step_zero_with_no_loss_yet() -> None:
    assert _resume(None, model=None, optimizer=None) == (0, None)


def test_the_recorded_base_of_a_continued_adapter_is_read_as_loading_reads_it(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "smollm2"}')
    assert _base_spec_text(parse_model_spec(str(adapter))) == "smollm2"
    (adapter / "adapter_config.json").write_text("{}")  # loading refuses this; so does the record
    with pytest.raises(UnknownModelSpec, match="names no base_model_name_or_path"):
        _base_spec_text(parse_model_spec(str(adapter)))
    assert _base_spec_text(parse_model_spec("SmolLM2")) == "smollm2"
    assert _base_spec_text(parse_model_spec(str(tiny_model_dir))) == str(tiny_model_dir.resolve())


def test_paths_are_normalised_once_and_typed_as_paths() -> None:
    config = LoraTrainingConfig("train.jsonl", "out", eval_file="held.jsonl")
    assert (config.train_file, config.output_dir, config.eval_file) == (
        Path("train.jsonl"),
        Path("out"),
        Path("held.jsonl"),
    )
    hints = typing.get_type_hints(LoraTrainingConfig)
    assert (hints["train_file"], hints["output_dir"], hints["eval_file"]) == (Path, Path, Path | None)
    assert LoraTrainingConfig("t.jsonl", "o", target_modules="q_proj").target_modules == ("q_proj",)


def test_the_loss_computes_logits_only_where_answers_are_and_equals_the_full_loss(tiny_model_dir: Path) -> None:
    """Keeping only the positions that predict an answer token changes nothing but the cost."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = [tokenize_example(tokenizer, chat, 192) for chat in read_sft_jsonl(EXAMPLES)[:3]]
    batch = collate(examples, tokenizer.pad_token_id)  # rows of different lengths: answers end apart
    with torch.no_grad():
        kept = _answer_loss(model, batch)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        full = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1), batch["labels"][:, 1:].flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
    assert kept.item() == pytest.approx(full.item(), rel=1e-5)
