"""`coassist finetune` and `coassist train-router`: the training layer's subcommands.

Exit status: 0 when trained; 1 for bad input (an option out of range, a malformed data file, an
--out that cannot be used), with a one-line message on stderr that names the option, file or
line, and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from coassist.errors import CoassistError
from coassist.train import _config_cli

if TYPE_CHECKING:
    from coassist.train.lora import HeldOutComparison


def add_train_commands(subparsers: Any) -> None:
    """Register `curriculum`, `finetune` and `train-router` on the `coassist` command's subparsers.

    Their options are the fields of `CurriculumConfig`, `LoraTrainingConfig` and
    `RouterTrainingConfig` (see `coassist.train._config_cli`): flags, defaults, types and help
    come from there.
    """
    from coassist.train.curriculum import CurriculumConfig
    from coassist.train.lora import LoraTrainingConfig
    from coassist.train.router_training import RouterTrainingConfig

    curriculum = subparsers.add_parser(
        "curriculum",
        help="write the training curriculum of coassist's own adapter",
        description="Write the curriculum the shipped adapter is trained on: questions about random "
        "DataFrames, real errors, code requests and completions, every answer computed and checked. "
        "Train on it with `coassist finetune --data OUT`.",
    )
    _config_cli.add_options(curriculum, CurriculumConfig)
    curriculum.set_defaults(run=_run_curriculum)

    finetune = subparsers.add_parser(
        "finetune",
        help="LoRA fine-tune the assistant on chat JSONL",
        description="LoRA fine-tune the assistant on chat JSONL; prints the held-out loss before and after, "
        "then compares the base's and the adapter's answers to the held-out conversations (chrF, as "
        "`coassist eval` scores team drafts) and says whether the adapter is better. "
        "The output directory is a model spec: `%%assist -m OUT`.",
    )
    _config_cli.add_options(finetune, LoraTrainingConfig)
    finetune.set_defaults(run=_run_finetune)

    router = subparsers.add_parser(
        "train-router",
        help="fine-tune the p_pass router on review decisions",
        description="Fine-tune the router that predicts p_pass (the chance an AI draft passes review); "
        "prints accuracy, Brier score and calibration on held-out labels.",
    )
    _config_cli.add_options(router, RouterTrainingConfig)
    router.set_defaults(run=_run_train_router)


def _run_curriculum(args: argparse.Namespace) -> int:
    from coassist.train.curriculum import CurriculumConfig, build_curriculum
    from coassist.train.curriculum.disjoint import evaluation_overlaps

    try:
        config = _config_cli.config_from(CurriculumConfig, args)
        curriculum = build_curriculum(config)
        overlaps = evaluation_overlaps(curriculum.examples)
        if overlaps:
            shown = "; ".join(overlaps[:5]) + (f"; and {len(overlaps) - 5} more" if len(overlaps) > 5 else "")
            print(f"coassist curriculum: not written, it overlaps the evaluation: {shown}", file=sys.stderr)
            return 1
        curriculum.write(config.output)
    except (CoassistError, ValueError, OSError) as error:
        return _refuse("curriculum", error, _config_cli.flags(CurriculumConfig))
    counts = curriculum.counts()
    kinds = ", ".join(f"{kind} {counts[kind]}" for kind in ("table", "error", "code", "completion"))
    print(f"{len(curriculum.examples)} examples ({kinds}) written to {config.output}")
    print(f"{len(curriculum.dropped)} drawn examples failed their check and were left out")
    return 0


def _run_finetune(args: argparse.Namespace) -> int:
    from coassist.train.lora import LoraTrainingConfig, finetune_lora

    try:
        result = finetune_lora(_config_cli.config_from(LoraTrainingConfig, args))
    except (CoassistError, ValueError, OSError) as error:
        return _refuse("finetune", error, _config_cli.flags(LoraTrainingConfig))
    print(f"held-out loss before: {result.eval_loss_before:.4f}")
    print(f"held-out loss after:  {result.eval_loss_after:.4f}")
    print(f"steps: {result.steps}, tokens/s: {result.tokens_per_second:.0f}")
    print(f"adapter: {result.adapter_dir}  (use it with: %%assist -m {result.adapter_dir})")
    if result.held_out is None:
        print("held-out answers: not compared (--eval-max-new-tokens 0)")
    else:
        print(_comparison_table(result.held_out))
        print(result.held_out.verdict(result.adapter_dir))
    return 0


def _run_train_router(args: argparse.Namespace) -> int:
    from coassist.train.router_training import RouterTrainingConfig, train_router

    try:
        result = train_router(_config_cli.config_from(RouterTrainingConfig, args))
    except (CoassistError, ValueError, OSError) as error:
        return _refuse("train-router", error, _config_cli.flags(RouterTrainingConfig))
    print(result.message)
    if result.metrics is not None:
        print(_reliability_table(result.metrics))
    print(f"router: {args.output_dir}")
    return 0


def _refuse(command: str, error: Exception, flags: dict[str, str]) -> int:
    """Print why the input was refused, naming the option as typed (``--lr``, not
    ``learning_rate``), on stderr; return the exit status for bad input.

    Also catches ValueError and OSError from the libraries underneath (peft naming a layer the
    model lacks, a permission error on --out): for a command line they are input to fix too.
    """
    message = str(error)
    field = getattr(error, "field", None) or getattr(error, "option", None)
    if isinstance(field, str):
        flag = flags.get(field, "--" + field.replace("_", "-"))
        for separator in (" ", ": "):
            if message.startswith(field + separator):
                message = flag + separator + message[len(field) + len(separator) :]
                break
        else:
            message = f"{flag}: {message}"
    print(f"coassist {command}: {message}", file=sys.stderr)
    return 1


def _comparison_table(comparison: HeldOutComparison) -> str:
    """The held-out answers of the base and the adapter, one row each, as `coassist eval` counts them."""
    lines = ["held-out answers  n  passed  mean chrF  degenerate  cut off"]
    for name, summary in (("base", comparison.base), ("adapter", comparison.adapter)):
        chrf = "-" if summary.mean_value is None else f"{summary.mean_value:.1f}"
        lines.append(
            f"{name:<16} {summary.n:2d}  {summary.passed:6d}  {chrf:>9}  "
            f"{summary.degenerate_rate:10.0%}  {summary.cutoff_rate:7.0%}"
        )
    return "\n".join(lines)


def _reliability_table(metrics: Any) -> str:
    lines = ["p_pass bin     n  mean p  passed"]
    for b in metrics.bins:
        if b.count:
            lines.append(
                f"[{b.lower:.1f}, {b.upper:.1f})  {b.count:3d}  {b.mean_predicted:6.3f}  {b.fraction_positive:6.3f}"
            )
    return "\n".join(lines)
