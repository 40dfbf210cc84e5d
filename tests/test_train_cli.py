"""`coassist finetune` and `coassist train-router`, driven through their argparse registration."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from coassist.train import LoraTrainingConfig, RouterTrainingConfig, _config_cli
from coassist.train.cli import add_train_commands

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def parser() -> argparse.ArgumentParser:
    """The parser the `coassist` command builds (coassist.cli registers these same subcommands)."""
    built = argparse.ArgumentParser(prog="coassist")
    add_train_commands(built.add_subparsers(dest="command", required=True))
    return built


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


def test_finetune_prints_losses_and_writes_an_adapter(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "adapter"
    code = run(
        [
            "finetune",
            "--data",
            str(EXAMPLES / "sft_example.jsonl"),
            "--out",
            str(out),
            "--base",
            str(tiny_model_dir),
            "--max-steps",
            "2",
            "--lr",
            "1e-2",
            "--r",
            "4",
            "--target-modules",
            "q_proj, v_proj",
            "--max-length",
            "192",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    before = float(printed.split("held-out loss before:")[1].split()[0])
    after = float(printed.split("held-out loss after:")[1].split()[0])
    summary = json.loads((out / "coassist_training.json").read_text())
    assert (before, after) == (round(summary["eval_loss_before"], 4), round(summary["eval_loss_after"], 4))
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 4 and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    assert f"%%assist -m {out}" in printed


def test_finetune_reports_bad_data_without_a_traceback(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": "oops"}\n')
    assert run(["finetune", "--data", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    printed = capsys.readouterr()
    assert 'bad.jsonl line 1 has no "messages" list' in printed.err and printed.out == ""


def test_train_router_falls_back_and_says_so(tmp_path: Path, capsys) -> None:
    labels = tmp_path / "labels.jsonl"
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 0, 1], "skill": ["sql"] * 3}).to_json(
        labels, orient="records", lines=True
    )
    assert (
        run(["train-router", "--labels", str(labels), "--out", str(tmp_path / "router"), "--no-progress"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "using per-skill pass rates, not a classifier: 3 labelled examples (2 passed, 1 not)" in printed
    assert json.loads((tmp_path / "router" / "router.json").read_text())["prior"]["per_skill"] == {"sql": 0.6}


def test_registered_in_the_coassist_command() -> None:
    from coassist.cli import build_parser

    args = build_parser().parse_args(["train-router", "--labels", "l.jsonl", "--out", "r"])
    assert args.run.__name__ == "_run_train_router"


def test_an_adapter_from_the_cli_answers_in_assist(shell, tiny_model_dir: Path, tmp_path: Path) -> None:
    """The issue's bar: what `coassist finetune` writes is usable at once as `%%assist -m`."""
    from IPython.utils.capture import capture_output

    from coassist.cli import main

    out = tmp_path / "adapter"
    args = ["finetune", "--data", str(EXAMPLES / "sft_example.jsonl"), "--out", str(out)]
    args += ["--base", str(tiny_model_dir), "--max-steps", "1", "--max-length", "192", "--device", "cpu"]
    assert main([*args, "--no-progress"]) == 0
    with capture_output() as captured:
        shell.run_cell_magic("assist", f"-m {out} -o tuned_answer --max-new-tokens 6", "Plan a churn analysis.")
    final = captured.outputs[-1]
    provenance = final.metadata["coassist"]
    assert provenance["kind"] == "peft" and provenance["adapter"] == str(out.resolve())
    assert provenance["directory"] == str(tiny_model_dir) and shell.user_ns["tuned_answer"]


# --- options generated from the config fields ---------------------------------------------------

FINETUNE_FLAGS = {
    "train_file": "--data",
    "output_dir": "--out",
    "base": "--base",
    "eval_file": "--eval-data",
    "eval_max_new_tokens": "--eval-max-new-tokens",
    "eval_fraction": "--eval-fraction",
    "epochs": "--epochs",
    "max_steps": "--max-steps",
    "learning_rate": "--lr",
    "warmup_steps": "--warmup-steps",
    "weight_decay": "--weight-decay",
    "max_grad_norm": "--max-grad-norm",
    "batch_size": "--batch-size",
    "grad_accumulation": "--grad-accumulation",
    "r": "--r",
    "alpha": "--alpha",
    "dropout": "--dropout",
    "target_modules": "--target-modules",
    "max_length": "--max-length",
    "group_by_length": "--no-group-by-length",
    "seed": "--seed",
    "checkpoint_every": "--checkpoint-every",
    "keep_checkpoints": "--keep-checkpoints",
    "resume": "--resume",
    "overwrite": "--overwrite",
    "device": "--device",
    "progress": "--no-progress",
}
ROUTER_FLAGS = {
    "labels": "--labels",
    "output_dir": "--out",
    "base": "--base",
    "min_examples": "--min-examples",
    "min_per_class": "--min-per-class",
    "eval_fraction": "--eval-fraction",
    "epochs": "--epochs",
    "learning_rate": "--lr",
    "batch_size": "--batch-size",
    "max_length": "--max-length",
    "weight_decay": "--weight-decay",
    "n_bins": "--n-bins",
    "seed": "--seed",
    "device": "--device",
    "progress": "--no-progress",
}


def test_every_config_field_is_an_option_under_the_flag_users_know() -> None:
    assert _config_cli.flags(LoraTrainingConfig) == FINETUNE_FLAGS
    assert _config_cli.flags(RouterTrainingConfig) == ROUTER_FLAGS


def test_options_default_to_the_config_defaults() -> None:
    args = parser().parse_args(["finetune", "--data", "d.jsonl", "--out", "o"])
    assert _config_cli.config_from(LoraTrainingConfig, args) == LoraTrainingConfig("d.jsonl", "o")
    args = parser().parse_args(["train-router", "--labels", "l.jsonl", "--out", "r"])
    assert _config_cli.config_from(RouterTrainingConfig, args) == RouterTrainingConfig("l.jsonl", "r")


def test_options_are_read_as_their_field_types() -> None:
    argv = ["finetune", "--data", "d.jsonl", "--out", "o", "--lr", "1e-3", "--max-steps", "4"]
    argv += ["--target-modules", "q_proj, v_proj", "--resume", "--no-progress", "--eval-data", "h.jsonl"]
    config = _config_cli.config_from(LoraTrainingConfig, parser().parse_args(argv))
    assert (config.learning_rate, config.max_steps, config.target_modules) == (1e-3, 4, ("q_proj", "v_proj"))
    assert config.resume and not config.progress and not config.overwrite
    assert (config.train_file, config.eval_file) == (Path("d.jsonl"), Path("h.jsonl"))


def test_out_is_required_although_python_keeps_a_router_in_memory(capsys) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["train-router", "--labels", "l.jsonl"])
    assert "the following arguments are required: --out" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "config_class", "base"),
    [("finetune", LoraTrainingConfig, "coassist"), ("train-router", RouterTrainingConfig, "minilm")],
)
def test_help_is_the_fields_help(command: str, config_class: type, base: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option: no wrapping inside a help text
    with pytest.raises(SystemExit):
        parser().parse_args([command, "--help"])
    shown = capsys.readouterr().out
    for spec in dataclasses.fields(config_class):
        assert spec.metadata["help"] in shown
    assert f"(default: {base})" in shown
    assert "do not show a progress bar" in shown


def test_a_field_the_cli_cannot_show_is_refused_when_the_parser_is_built() -> None:
    @dataclasses.dataclass
    class NoHelp:
        steps: int = 1

    @dataclasses.dataclass
    class Odd:
        table: dict[str, int] = dataclasses.field(default_factory=dict, metadata={"help": "a mapping"})

    with pytest.raises(TypeError, match="'steps' has no metadata"):
        _config_cli.add_options(argparse.ArgumentParser(), NoHelp)
    with pytest.raises(TypeError, match="'table' has type .* no command-line form"):
        _config_cli.add_options(argparse.ArgumentParser(), Odd)
