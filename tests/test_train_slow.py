"""Training on the real embedded weights: SmolLM2 (LoRA) and MiniLM (router), on the example data.

Kept apart from the tiny-model tests, which pin torch to one thread: these models are large
enough for torch's own thread choice to pay.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coassist.llm import GenerationSettings, load_chat_model
from coassist.train import LoraTrainingConfig, Router, RouterTrainingConfig, finetune_lora, train_router

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
SFT_EXAMPLES = DATA / "sft_example.jsonl"
ROUTER_EXAMPLES = DATA / "router_example.jsonl"


@pytest.mark.slow
def test_smollm2_short_run_lowers_held_out_loss(smollm2_cache: Path, tmp_path: Path, monkeypatch) -> None:
    """A few steps on the project's example data, on the real embedded model (CPU, under a minute)."""
    monkeypatch.setenv("COASSIST_CACHE", str(smollm2_cache))
    lines = SFT_EXAMPLES.read_text().splitlines()
    train, held_out = tmp_path / "train.jsonl", tmp_path / "held_out.jsonl"
    train.write_text("\n".join(lines[:12]) + "\n")
    held_out.write_text("\n".join(lines[-2:]) + "\n")
    result = finetune_lora(
        LoraTrainingConfig(
            train,
            tmp_path / "adapter",
            eval_file=held_out,
            max_steps=3,
            batch_size=2,
            learning_rate=2e-3,
            max_length=192,
            checkpoint_every=0,
            device="cpu",
            progress=False,
        )
    )
    assert result.eval_loss_after < result.eval_loss_before - 0.05
    assert (
        json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
        == "smollm2"
    )
    model = load_chat_model(str(tmp_path / "adapter"), device="cpu")
    assert model.describe()["adapter"] == str((tmp_path / "adapter").resolve())
    answer = model.generate(
        [{"role": "user", "content": "Load sales.csv"}], GenerationSettings(max_new_tokens=3)
    ).text
    assert answer.strip()


@pytest.mark.slow
def test_minilm_router_on_the_example_labels(tmp_path: Path) -> None:
    """The real MiniLM encoder on the project's example labels: better than chance, calibrated-ish."""
    result = train_router(
        RouterTrainingConfig(
            ROUTER_EXAMPLES, tmp_path / "router", epochs=2, learning_rate=1e-4, device="cpu", progress=False
        )
    )
    assert not result.used_fallback
    assert result.metrics.accuracy > 0.6
    assert result.metrics.brier < 0.25
    assert Router.load(tmp_path / "router").uses_classifier
