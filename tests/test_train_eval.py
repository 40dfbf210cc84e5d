"""`finetune_lora` proves itself: the base and the adapter answer the held-out conversations,
scored as `coassist eval` scores team drafts, and the run says which is better."""

from __future__ import annotations

import argparse
import ast
import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from sacrebleu.metrics import CHRF

from coassist.errors import InvalidTrainingConfig
from coassist.eval import product_defaults
from coassist.eval.report import Summary, summarise
from coassist.eval.team import CHRF_PASS
from coassist.llm import GenerationSettings, load_chat_model
from coassist.train import LoraTrainingConfig, finetune_lora
from coassist.train.cli import add_train_commands
from coassist.train.lora import MIN_HELD_OUT_TO_DECIDE, HeldOutComparison, _split

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data" / "sft_example.jsonl"
EVAL = Path(__file__).resolve().parents[1] / "coassist" / "eval"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def config(base: Path, out: Path, **overrides) -> LoraTrainingConfig:
    settings = dict(
        train_file=EXAMPLES,
        output_dir=out,
        base=str(base),
        max_steps=2,
        learning_rate=1e-2,
        max_length=192,
        checkpoint_every=0,
        eval_max_new_tokens=8,
        device="cpu",
        progress=False,
    )
    settings.update(overrides)
    return LoraTrainingConfig(**settings)


@pytest.fixture(scope="module")
def compared(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    run = config(tiny_model_dir, tmp_path_factory.mktemp("adapter"))
    return finetune_lora(run), run


def chrf_of_answers(spec: str, run: LoraTrainingConfig) -> list[float]:
    """Each held-out conversation answered by `spec` and scored by hand, outside the harness."""
    model = load_chat_model(spec, device="cpu")
    settings = GenerationSettings(
        max_new_tokens=run.eval_max_new_tokens, repetition_penalty=product_defaults().repetition_penalty
    )
    scores = []
    for chat in _split(run)[1]:
        prompt, reference = chat.messages[:-1], chat.messages[-1]["content"]
        scores.append(CHRF().sentence_score(model.generate(prompt, settings).text, [reference]).score)
    return scores


def test_base_and_adapter_answers_are_scored_by_chrf_against_the_held_out_answers(
    compared, tiny_model_dir
) -> None:
    result, run = compared
    held_out = result.held_out
    assert held_out is not None
    assert held_out.base.model == str(tiny_model_dir) and held_out.adapter.model == str(run.output_dir)
    assert held_out.base.n == held_out.adapter.n == result.eval_examples == 4
    base = chrf_of_answers(str(tiny_model_dir), run)
    adapter = chrf_of_answers(str(run.output_dir), run)
    assert held_out.base.mean_value == pytest.approx(statistics.fmean(base))
    assert held_out.adapter.mean_value == pytest.approx(statistics.fmean(adapter))
    assert held_out.base.passed == sum(score >= CHRF_PASS for score in base)
    assert held_out.adapter.passed == sum(score >= CHRF_PASS for score in adapter)
    assert held_out.adapter_higher == sum(a > b for a, b in zip(adapter, base, strict=True))
    assert all(
        summary.cutoff_rate == 1.0 for summary in (held_out.base, held_out.adapter)
    )  # 8 tokens of noise


def test_summary_and_json_carry_the_comparison(compared) -> None:
    result, run = compared
    base, adapter = result.held_out.base, result.held_out.adapter
    expected = (
        f"held-out chrF {base.mean_value:.1f} -> {adapter.mean_value:.1f}, "
        f"pass {base.passed}/4 -> {adapter.passed}/4"
    )
    assert expected in result.summary()
    written = json.loads((run.output_dir / "coassist_training.json").read_text())["held_out_answers"]
    assert written["base"]["mean_value"] == pytest.approx(base.mean_value)
    assert written["adapter"]["passed"] == adapter.passed
    assert written["adapter_higher"] == result.held_out.adapter_higher
    assert written["chrf_pass"] == CHRF_PASS
    assert written["verdict"].startswith("n=4: too few to decide")


def test_zero_tokens_skips_the_comparison(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = finetune_lora(config(tiny_model_dir, tmp_path, max_steps=1, eval_max_new_tokens=0))
    assert result.held_out is None
    assert "chrF" not in result.summary()
    assert json.loads((tmp_path / "coassist_training.json").read_text())["held_out_answers"] is None


@pytest.mark.parametrize("value", [-1, 1.5, True, "8"])
def test_eval_max_new_tokens_must_be_a_whole_number_from_zero(value) -> None:
    with pytest.raises(InvalidTrainingConfig, match="eval_max_new_tokens must be") as refused:
        LoraTrainingConfig("train.jsonl", "out", eval_max_new_tokens=value)
    assert refused.value.field == "eval_max_new_tokens"


def summary(model: str, n: int, mean_chrf: float) -> Summary:
    return replace(summarise(model, "team", []), n=n, mean_value=mean_chrf)


@pytest.mark.parametrize(
    ("n", "base", "adapter", "says", "switch"),
    [
        (MIN_HELD_OUT_TO_DECIDE - 1, 20.0, 40.0, "too few to decide", False),
        (MIN_HELD_OUT_TO_DECIDE, 20.0, 40.0, "the adapter is better", True),
        (MIN_HELD_OUT_TO_DECIDE, 40.0, 20.0, "the adapter is not better", False),
        (MIN_HELD_OUT_TO_DECIDE, 30.0, 30.0, "the adapter is not better", False),
    ],
)
def test_verdict(n: int, base: float, adapter: float, says: str, switch: bool, tmp_path: Path) -> None:
    comparison = HeldOutComparison(summary("smollm2", n, base), summary("out", n, adapter), adapter_higher=3)
    verdict = comparison.verdict(tmp_path / "out")
    assert says in verdict and f"mean chrF {base:.1f} -> {adapter:.1f}, higher on 3 of {n}" in verdict
    assert (f'switch with: %config Assist.model = "{tmp_path / "out"}"' in verdict) is switch


def finetune(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="coassist")
    add_train_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["finetune", *argv])
    return args.run(args)


def test_finetune_prints_the_comparison_and_a_verdict(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    common = [
        "--data",
        str(EXAMPLES),
        "--base",
        str(tiny_model_dir),
        "--max-steps",
        "1",
        "--max-length",
        "192",
    ]
    common += ["--checkpoint-every", "0", "--device", "cpu", "--no-progress"]
    assert finetune([*common, "--out", str(tmp_path / "a"), "--eval-max-new-tokens", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    written = json.loads((tmp_path / "a" / "coassist_training.json").read_text())["held_out_answers"]
    base_row = next(line for line in lines if line.startswith("base "))
    assert base_row.split()[1:4] == [
        "4",
        str(written["base"]["passed"]),
        f"{written['base']['mean_value']:.1f}",
    ]
    assert lines[-1] == written["verdict"] and lines[-1].startswith("n=4: too few to decide")

    assert finetune([*common, "--out", str(tmp_path / "b"), "--eval-max-new-tokens", "0"]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1] == "held-out answers: not compared (--eval-max-new-tokens 0)"
    )


def test_no_eval_module_imports_the_training_layer_at_import_time() -> None:
    """coassist.train imports coassist.eval, so eval may reach train only inside a function."""
    for path in sorted(EVAL.glob("*.py")):
        top_level = ast.parse(path.read_text()).body
        imported = {node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
        assert not {name for name in imported if name.startswith("coassist.train")}, path.name
