"""Training throughput, measured side by side in one run, printed as one table.

* LoRA SFT: our plain PyTorch loop (`coassist.train.finetune_lora`) against a plain
  `transformers.Trainer` on the same PEFT model, the same LoRA settings and the same batches
  (the longest example conversation, repeated and cut to --max-length tokens, so every step of
  both loops sees an identical batch).
  Step time is the median over --steps measured steps, after --warmup steps.
* Router: MiniLM classifier training throughput (examples/s) and inference throughput
  (texts/s) on the project's example labels.
* Drafting: the review loop's generation, --drafts subtasks answered one by one
  (`ChatModel.generate`) vs in one batch (`ChatModel.generate_batch`), in tokens/s.

    python benchmarks/training.py                 # SmolLM2, CPU, a few minutes
    python benchmarks/training.py --model path/to/hf_dir --steps 8 --batch-size 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SFT_DATA = ROOT / "examples" / "data" / "sft_example.jsonl"
ROUTER_DATA = ROOT / "examples" / "data" / "router_example.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2", help="model spec to fine-tune (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=4, help="measured optimizer steps per loop")
    parser.add_argument("--warmup", type=int, default=1, help="steps run before measuring")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per example (cut to this)")
    parser.add_argument("--router-epochs", type=int, default=1)
    parser.add_argument("--router-texts", type=int, default=256, help="texts scored for inference throughput")
    parser.add_argument("--drafts", type=int, default=8, help="subtasks drafted for the batching measure")
    parser.add_argument("--draft-tokens", type=int, default=48, help="max new tokens per draft")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    with tempfile.TemporaryDirectory() as scratch:
        ours, tokens = _our_lora_steps(args, Path(scratch))
        trainer = _trainer_lora_steps(args, Path(scratch))
        router_train, router_infer = _router_throughput(args, Path(scratch))
    one_by_one, batched = _drafting_throughput(args)

    rows = [
        ("LoRA step time (s, median)", ours, trainer, trainer / ours),
        ("LoRA tokens/s", tokens / ours, tokens / trainer, (tokens / ours) / (tokens / trainer)),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nmodel={args.model} batch={args.batch_size} conversations, {tokens} tokens; steps={args.steps} "
        f"(+{args.warmup} warm-up) device={args.device} threads={torch.get_num_threads()} "
        f"cpus={os.cpu_count()} load-avg={load:.1f}"
    )
    print(f"{'measure':<30} {'coassist':>12} {'HF Trainer':>12} {'ratio':>8}")
    for name, a, b, ratio in rows:
        print(f"{name:<30} {a:>12.2f} {b:>12.2f} {ratio:>7.2f}x")
    print(f"{'router train (examples/s)':<30} {router_train:>12.1f} {'-':>12} {'-':>8}")
    print(f"{'router inference (texts/s)':<30} {router_infer:>12.1f} {'-':>12} {'-':>8}")
    print(f"{'drafting, one by one (tok/s)':<30} {one_by_one:>12.1f} {'-':>12} {'-':>8}")
    print(f"{'drafting, batched (tok/s)':<30} {batched:>12.1f} {'-':>12} {batched / one_by_one:>7.2f}x")
    print("ratio > 1: coassist's loop is faster (step time: Trainer / ours; tokens/s: ours / Trainer)")
    return 0


def _examples_file(scratch: Path, name: str, count: int) -> Path:
    """The longest example conversation `count` times: every batch of either loop is the same."""
    longest = max(SFT_DATA.read_text().splitlines(), key=len)
    path = scratch / name
    path.write_text((longest + "\n") * count)
    return path


def _our_lora_steps(args: argparse.Namespace, scratch: Path) -> tuple[float, int]:
    """Median step seconds and tokens per step of `finetune_lora`."""
    from coassist.train import LoraTrainingConfig, finetune_lora

    steps = args.warmup + args.steps
    result = finetune_lora(
        LoraTrainingConfig(
            train_file=_examples_file(scratch, "train.jsonl", steps * args.batch_size),
            eval_file=_examples_file(scratch, "eval.jsonl", 1),
            output_dir=scratch / "ours",
            base=args.model,
            max_steps=steps,
            batch_size=args.batch_size,
            max_length=args.max_length,
            checkpoint_every=0,
            device=args.device,
            progress=False,
        )
    )
    measured = result.history[args.warmup :]
    return statistics.median(record.seconds for record in measured), measured[0].tokens


def _trainer_lora_steps(args: argparse.Namespace, scratch: Path) -> float:
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from coassist.llm.loading import load_model_and_tokenizer
    from coassist.train import LoraTrainingConfig, read_sft_jsonl, tokenize_example
    from coassist.train.sft_data import collate

    defaults = LoraTrainingConfig(train_file="-", output_dir="-")
    torch.manual_seed(defaults.seed)
    loaded = load_model_and_tokenizer(args.model, device=args.device, merge_adapter=False)
    model = get_peft_model(
        loaded.model,
        LoraConfig(
            r=defaults.r,
            lora_alpha=defaults.alpha,
            lora_dropout=defaults.dropout,
            target_modules=list(defaults.target_modules),
            task_type="CAUSAL_LM",
        ),
    )
    steps = args.warmup + args.steps
    chats = read_sft_jsonl(_examples_file(scratch, "train.jsonl", steps * args.batch_size))
    tokenized = [tokenize_example(loaded.tokenizer, chat, args.max_length) for chat in chats]
    pad = loaded.tokenizer.pad_token_id

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = [time.perf_counter()]

        def on_step_end(self, *_args, **_kwargs) -> None:
            self.ends.append(time.perf_counter())

    clock = StepClock()
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(scratch / "trainer"),
            per_device_train_batch_size=args.batch_size,
            max_steps=steps,
            learning_rate=defaults.learning_rate,
            lr_scheduler_type="linear",
            optim="adamw_torch",
            max_grad_norm=defaults.max_grad_norm,
            logging_strategy="no",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            use_cpu=loaded.device.type == "cpu",
            seed=defaults.seed,
        ),
        train_dataset=tokenized,
        data_collator=lambda examples: collate(examples, pad),
        callbacks=[clock],
    )
    trainer.train()
    durations = [b - a for a, b in zip(clock.ends, clock.ends[1:], strict=False)]
    return statistics.median(durations[args.warmup :])


def _drafting_throughput(args: argparse.Namespace) -> tuple[float, float]:
    """Tokens/s drafting --drafts subtasks one at a time, then all in one batch (same prompts)."""
    import pandas as pd

    from coassist.llm import GenerationSettings, load_chat_model
    from coassist.review.prompts import draft_messages

    model = load_chat_model(args.model, device=args.device)
    tasks = pd.read_csv(ROOT / "examples" / "data" / "review_loop" / "tasks.csv").fillna("")
    rows = [tasks.iloc[n % len(tasks)] for n in range(args.drafts)]
    conversations = [draft_messages(r["title"], r["description"], r["skill"], [], 2000) for r in rows]
    settings = GenerationSettings(max_new_tokens=args.draft_tokens)
    tokenizer = model.tokenizer  # type: ignore[attr-defined]

    def tokens(answers: list[str]) -> int:
        return sum(len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers)

    model.generate(conversations[0], GenerationSettings(max_new_tokens=4))  # warm-up
    started = time.perf_counter()
    singles = [model.generate(c, settings).text for c in conversations]
    single_rate = tokens(singles) / (time.perf_counter() - started)
    started = time.perf_counter()
    batch = [generation.text for generation in model.generate_batch(conversations, settings)]
    return single_rate, tokens(batch) / (time.perf_counter() - started)


def _router_throughput(args: argparse.Namespace, scratch: Path) -> tuple[float, float]:
    from coassist.train import RouterTrainingConfig, read_router_labels, train_router

    result = train_router(
        RouterTrainingConfig(ROUTER_DATA, epochs=args.router_epochs, device=args.device, progress=False)
    )
    texts = [example.text for example in read_router_labels(ROUTER_DATA)]
    texts = (texts * (args.router_texts // len(texts) + 1))[: args.router_texts]
    result.router.predict_p_pass(texts[:64])  # warm-up
    started = time.perf_counter()
    result.router.predict_p_pass(texts)
    return result.train_examples_per_second, len(texts) / (time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
