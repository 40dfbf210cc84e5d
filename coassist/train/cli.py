"""`coassist finetune` and `coassist train-router`: the training layer's subcommands.

Exit status: 0 when trained; 1 for bad input (an option out of range, a malformed data file, an
--out that cannot be used), with a one-line message on stderr that names the option, file or
line, and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from coassist.errors import CoassistError

_FINETUNE_FLAGS = {
    "train_file": "--data",
    "output_dir": "--out",
    "eval_file": "--eval-data",
    "learning_rate": "--lr",
}
_ROUTER_FLAGS = {"labels": "--labels", "output_dir": "--out", "learning_rate": "--lr"}
"""Config fields whose flag is not ``--`` + the field name with dashes."""


def add_train_commands(subparsers: Any) -> None:
    """Register `finetune` and `train-router` on the `coassist` command's subparsers."""
    from coassist.train.lora import LoraTrainingConfig
    from coassist.train.router import RouterTrainingConfig

    lora_defaults = LoraTrainingConfig(train_file="-", output_dir="-")
    finetune = subparsers.add_parser(
        "finetune",
        help="LoRA fine-tune the assistant on chat JSONL",
        description="LoRA fine-tune the assistant on chat JSONL; prints the held-out loss before and after. "
        "The output directory is a model spec: `%%assist -m OUT`.",
    )
    finetune.add_argument("--data", required=True, help='chat JSONL: one {"messages": [...]} per line')
    finetune.add_argument("--out", required=True, help="directory for the adapter and its checkpoints")
    finetune.add_argument(
        "--base", default=lora_defaults.base, help="model spec to adapt (default: %(default)s)"
    )
    finetune.add_argument(
        "--eval-data", help="held-out chat JSONL (default: hold out --eval-fraction of --data)"
    )
    finetune.add_argument("--eval-fraction", type=float, default=lora_defaults.eval_fraction)
    finetune.add_argument("--epochs", type=int, default=lora_defaults.epochs)
    finetune.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    finetune.add_argument("--lr", type=float, default=lora_defaults.learning_rate, help="peak learning rate")
    finetune.add_argument("--batch-size", type=int, default=lora_defaults.batch_size)
    finetune.add_argument("--grad-accumulation", type=int, default=lora_defaults.grad_accumulation)
    finetune.add_argument("--r", type=int, default=lora_defaults.r, help="LoRA rank")
    finetune.add_argument("--alpha", type=int, default=lora_defaults.alpha)
    finetune.add_argument("--dropout", type=float, default=lora_defaults.dropout)
    finetune.add_argument(
        "--target-modules", default=",".join(lora_defaults.target_modules), help="comma-separated layer names"
    )
    finetune.add_argument("--max-length", type=int, default=lora_defaults.max_length)
    finetune.add_argument("--seed", type=int, default=lora_defaults.seed)
    finetune.add_argument("--checkpoint-every", type=int, default=lora_defaults.checkpoint_every)
    finetune.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in --out"
    )
    finetune.add_argument(
        "--overwrite",
        action="store_true",
        help="train afresh in an --out that holds an earlier run (its adapter is replaced when the new one is done)",
    )
    finetune.add_argument("--device", default=lora_defaults.device)
    finetune.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    finetune.set_defaults(run=_run_finetune)

    router_defaults = RouterTrainingConfig(labels="-")
    router = subparsers.add_parser(
        "train-router",
        help="fine-tune the p_pass router on review decisions",
        description="Fine-tune the router that predicts p_pass (the chance an AI draft passes review); "
        "prints accuracy, Brier score and calibration on held-out labels.",
    )
    router.add_argument("--labels", required=True, help='JSONL: one {"text", "label": 0|1, "skill"} per line')
    router.add_argument("--out", required=True, help="directory to save the router in")
    router.add_argument("--base", default=router_defaults.base, help="'minilm' or an HF encoder directory")
    router.add_argument("--epochs", type=int, default=router_defaults.epochs)
    router.add_argument("--lr", type=float, default=router_defaults.learning_rate)
    router.add_argument("--batch-size", type=int, default=router_defaults.batch_size)
    router.add_argument("--eval-fraction", type=float, default=router_defaults.eval_fraction)
    router.add_argument("--min-examples", type=int, default=router_defaults.min_examples)
    router.add_argument("--min-per-class", type=int, default=router_defaults.min_per_class)
    router.add_argument("--seed", type=int, default=router_defaults.seed)
    router.add_argument("--device", default=router_defaults.device)
    router.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    router.set_defaults(run=_run_train_router)


def _run_finetune(args: argparse.Namespace) -> int:
    from coassist.train.lora import LoraTrainingConfig, finetune_lora

    try:
        config = LoraTrainingConfig(
            train_file=args.data,
            output_dir=args.out,
            base=args.base,
            eval_file=args.eval_data,
            eval_fraction=args.eval_fraction,
            epochs=args.epochs,
            max_steps=args.max_steps,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            grad_accumulation=args.grad_accumulation,
            r=args.r,
            alpha=args.alpha,
            dropout=args.dropout,
            target_modules=tuple(name.strip() for name in args.target_modules.split(",") if name.strip()),
            max_length=args.max_length,
            seed=args.seed,
            checkpoint_every=args.checkpoint_every,
            resume=args.resume,
            overwrite=args.overwrite,
            device=args.device,
            progress=not args.no_progress,
        )
        result = finetune_lora(config)
    except (CoassistError, ValueError, OSError) as error:
        return _refuse("finetune", error, _FINETUNE_FLAGS)
    print(f"held-out loss before: {result.eval_loss_before:.4f}")
    print(f"held-out loss after:  {result.eval_loss_after:.4f}")
    print(f"steps: {result.steps}, tokens/s: {result.tokens_per_second:.0f}")
    print(f"adapter: {result.adapter_dir}  (use it with: %%assist -m {result.adapter_dir})")
    return 0


def _run_train_router(args: argparse.Namespace) -> int:
    from coassist.train.router import RouterTrainingConfig, train_router

    try:
        config = RouterTrainingConfig(
            labels=args.labels,
            output_dir=args.out,
            base=args.base,
            epochs=args.epochs,
            learning_rate=args.lr,
            batch_size=args.batch_size,
            eval_fraction=args.eval_fraction,
            min_examples=args.min_examples,
            min_per_class=args.min_per_class,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress,
        )
        result = train_router(config)
    except (CoassistError, ValueError, OSError) as error:
        return _refuse("train-router", error, _ROUTER_FLAGS)
    print(result.message)
    if result.metrics is not None:
        print(_reliability_table(result.metrics))
    print(f"router: {args.out}")
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


def _reliability_table(metrics: Any) -> str:
    lines = ["p_pass bin     n  mean p  passed"]
    for b in metrics.bins:
        if b.count:
            lines.append(
                f"[{b.lower:.1f}, {b.upper:.1f})  {b.count:3d}  {b.mean_predicted:6.3f}  {b.fraction_positive:6.3f}"
            )
    return "\n".join(lines)
