"""LoRA fine-tuning: loss falls, checkpoints resume exactly, the adapter is a model spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from coassist.errors import InvalidTrainingData, NotEnoughData
from coassist.llm import GenerationSettings, load_chat_model
from coassist.train import LoraTrainingConfig, finetune_lora
from coassist.train.checkpoints import list_checkpoints

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
    )
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
    common = dict(max_steps=1, dropout=0.0, checkpoint_every=0)
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
