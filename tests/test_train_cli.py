"""`coassist finetune` and `coassist train-router`, driven through their argparse registration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from coassist.train.cli import add_train_commands

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def run(argv: list[str]) -> int:
    """Parse like the `coassist` command does (coassist.cli registers these same subcommands)."""
    parser = argparse.ArgumentParser(prog="coassist")
    add_train_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
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
