"""LoRA fine-tuning of the assistant on chat JSONL: a plain PyTorch loop over a PEFT model.

The loop is the whole algorithm, readable in one screen: micro-batches in a seeded order,
loss on answer tokens only, gradient accumulation, AdamW with a linear schedule, a tqdm bar,
checkpoints every N steps, and an exact resume. The result is a standard PEFT adapter whose
`base_model_name_or_path` is the base's *model spec* (e.g. ``smollm2``), so the output
directory is itself a model spec: ``load_chat_model(out)`` or ``%%assist -m out``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from coassist.atomic_dir import atomic_directory
from coassist.errors import InvalidTrainingConfig, NotEnoughData, OutputDirInUse
from coassist.llm.device import resolve_device
from coassist.llm.loading import load_model_and_tokenizer
from coassist.llm.spec import ModelSpec
from coassist.train import _checks as checks
from coassist.train.checkpoints import (
    TrainerState,
    capture_rng,
    checkpoint_root,
    list_checkpoints,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from coassist.train.sft_data import (
    IGNORE_INDEX,
    ChatExample,
    TokenizedExample,
    collate,
    read_chat_jsonl,
    tokenize_conversation,
)

LLAMA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a Llama block: adapting the MLP too learns more per step than q/v alone
(the QLoRA paper's finding) for little extra compute on a model this size."""

SUMMARY_FILE = "coassist_training.json"


@dataclass
class LoraTrainingConfig:
    """What to fine-tune, on what, and how; validated when built.

    Examples
    --------
    >>> LoraTrainingConfig(train_file="train.jsonl", output_dir="adapter", max_steps=20).r
    8
    >>> LoraTrainingConfig(train_file="train.jsonl", output_dir="adapter", eval_fraction=1.5)
    Traceback (most recent call last):
    ...
    coassist.errors.InvalidTrainingConfig: eval_fraction must be in (0, 1), got 1.5
    """

    train_file: str | Path
    """Chat JSONL, one ``{"messages": [{"role": ..., "content": ...}, ...]}`` per line."""
    output_dir: str | Path
    """Where the adapter, its tokenizer and ``checkpoints/`` are written."""
    base: str = "smollm2"
    """Model spec of the model to adapt. An adapter spec continues training that adapter (its
    own r/alpha/targets then apply, not the fields below)."""
    eval_file: str | Path | None = None
    """Held-out chat JSONL. When absent, `eval_fraction` of `train_file` is held out."""
    eval_fraction: float = 0.1
    """Share of `train_file` held out (at least one example) when there is no `eval_file`."""
    epochs: int = 3
    """Passes over the training examples; ignored when `max_steps` is set."""
    max_steps: int | None = None
    """Optimizer steps to take, cycling through the data as often as needed."""
    learning_rate: float = 2e-4
    """Peak AdamW learning rate; LoRA tolerates ~10x the full fine-tuning rate."""
    warmup_steps: int = 0
    """Steps of linear warm-up before the linear decay to zero."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    """Clip the global gradient norm to this (0 disables clipping)."""
    batch_size: int = 4
    """Conversations per micro-batch."""
    grad_accumulation: int = 1
    """Micro-batches per optimizer step (effective batch = batch_size x grad_accumulation)."""
    r: int = 8
    """LoRA rank."""
    alpha: int = 16
    """LoRA scaling numerator: the update is scaled by alpha / r."""
    dropout: float = 0.05
    """Dropout on the LoRA branch's input."""
    target_modules: tuple[str, ...] = LLAMA_TARGET_MODULES
    """Names of the linear layers to adapt (defaults fit Llama-family models such as SmolLM2)."""
    max_length: int = 512
    """Tokens per conversation; longer ones are cut on the right."""
    seed: int = 0
    """Seeds the data split, the batch order, LoRA's initialisation and dropout."""
    checkpoint_every: int = 50
    """Save a checkpoint every this many steps (0: only the final adapter)."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep on disk."""
    resume: bool = False
    """Continue from the newest checkpoint in `output_dir`. Without it (or `overwrite`), an
    `output_dir` that already holds an adapter or checkpoints is refused, never reused."""
    overwrite: bool = False
    """Start afresh in an `output_dir` that holds an earlier run: its checkpoints are deleted
    at the start, its adapter is replaced only once the new one is complete."""
    device: str = "auto"
    """``auto`` (CUDA when visible, else CPU), ``cpu`` or ``cuda[:N]``."""
    progress: bool = True
    """Show a tqdm progress bar."""

    def __post_init__(self) -> None:
        """Normalise paths, and check every field (`InvalidTrainingConfig` names the one at fault)."""
        self.train_file = Path(self.train_file)
        self.output_dir = Path(self.output_dir)
        self.eval_file = Path(self.eval_file) if self.eval_file is not None else None
        if isinstance(self.target_modules, str):  # "q_proj" would otherwise become ("q", "_", ...)
            self.target_modules = (self.target_modules,)
        self.target_modules = tuple(self.target_modules)
        checks.output_dir("output_dir", self.output_dir)
        if not isinstance(self.base, str) or not self.base.strip():
            raise InvalidTrainingConfig(
                f"base must be a model spec such as 'smollm2', got {self.base!r}", "base"
            )
        checks.fraction("eval_fraction", self.eval_fraction)
        if self.max_steps is not None and (
            isinstance(self.max_steps, bool) or not isinstance(self.max_steps, int) or self.max_steps < 1
        ):
            raise InvalidTrainingConfig(
                f"max_steps must be at least 1 (or None to use epochs), got {self.max_steps!r}", "max_steps"
            )
        for name in (
            "epochs",
            "batch_size",
            "grad_accumulation",
            "r",
            "alpha",
            "max_length",
            "keep_checkpoints",
        ):
            checks.whole(name, getattr(self, name), minimum=1)
        for name in ("warmup_steps", "checkpoint_every", "seed"):
            checks.whole(name, getattr(self, name), minimum=0)
        checks.positive_number("learning_rate", self.learning_rate)
        checks.non_negative_number("weight_decay", self.weight_decay)
        checks.non_negative_number("max_grad_norm", self.max_grad_norm)
        checks.fraction("dropout", self.dropout, zero_allowed=True)
        if self.max_steps is not None and self.warmup_steps >= self.max_steps > 1:
            raise InvalidTrainingConfig(
                f"warmup_steps ({self.warmup_steps}) must be below max_steps ({self.max_steps}), "
                "or the learning rate never reaches its peak",
                "warmup_steps",
            )
        if not self.target_modules:
            raise InvalidTrainingConfig(
                "target_modules is empty; name the linear layers to adapt, e.g. ('q_proj', 'v_proj')",
                "target_modules",
            )
        if not all(isinstance(name, str) and name.strip() for name in self.target_modules):
            raise InvalidTrainingConfig(
                f"target_modules must be layer names such as 'q_proj', got {list(self.target_modules)!r}",
                "target_modules",
            )
        if self.resume and self.overwrite:
            raise InvalidTrainingConfig(
                "overwrite and resume exclude each other: resume continues the earlier run in "
                "output_dir, overwrite discards it; pass one",
                "overwrite",
            )
        resolve_device(self.device)  # an unknown device or a missing GPU fails here, not after loading


@dataclass(frozen=True)
class StepRecord:
    """One optimizer step, for plots and throughput figures."""

    step: int
    loss: float
    """Mean loss per answer token over the step's micro-batches."""
    learning_rate: float
    tokens: int
    """Non-padding tokens the step processed."""
    seconds: float


@dataclass
class LoraResult:
    """What a fine-tuning run produced and how well it did on held-out conversations."""

    adapter_dir: Path
    """The adapter: a model spec for `load_chat_model` and `%%assist -m`."""
    base: str
    """The base model's spec, as recorded in adapter_config.json."""
    eval_loss_before: float
    """Mean loss per held-out answer token before any training (the base model's)."""
    eval_loss_after: float
    steps: int
    train_examples: int
    eval_examples: int
    resumed_from: int | None = None
    """Step of the checkpoint this run continued from, if any."""
    history: list[StepRecord] = field(default_factory=list)
    """Steps taken in this run (not those before a resume)."""

    @property
    def tokens_per_second(self) -> float:
        seconds = sum(record.seconds for record in self.history)
        return sum(record.tokens for record in self.history) / seconds if seconds else 0.0

    def summary(self) -> str:
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from is not None else ""
        return (
            f"held-out loss {self.eval_loss_before:.4f} -> {self.eval_loss_after:.4f} "
            f"after {self.steps} steps{resumed} on {self.train_examples} conversations "
            f"({self.eval_examples} held out); adapter: {self.adapter_dir}"
        )


def finetune_lora(config: LoraTrainingConfig) -> LoraResult:
    """Fine-tune a LoRA adapter on chat JSONL and save it as a ready model spec.

    Parameters
    ----------
    config:
        What to train and how (see `LoraTrainingConfig`).

    Returns
    -------
    LoraResult
        With the held-out loss before and after, and the per-step history.

    Raises
    ------
    OutputDirInUse
        `output_dir` holds an earlier run (adapter or checkpoints) and neither `resume` nor
        `overwrite` is set, or it holds files coassist did not write. Nothing is changed.
    InvalidTrainingData
        A malformed line in the training or held-out file (the message names it).
    NotEnoughData
        Fewer than two conversations, or none left with answer tokens after truncation.
    UnknownModelSpec, ModelPackageMissing
        The base spec cannot be loaded.

    Notes
    -----
    The adapter is written under a staging name beside `output_dir` and renamed into place
    when complete (`coassist.atomic_dir`): an interrupted run leaves the earlier adapter, if
    any, whole, and never half of a new one.

    Examples
    --------
    >>> result = finetune_lora(LoraTrainingConfig("examples/data/sft_example.jsonl", "adapter",
    ...                                           max_steps=20))  # doctest: +SKIP
    >>> load_chat_model(str(result.adapter_dir))  # doctest: +SKIP
    """
    checkpoint = _earlier_run(config)  # refuses a used output_dir before anything is written
    train_chats, eval_chats = _split(config)  # before loading the model: bad data fails fast
    random.seed(config.seed)
    torch.manual_seed(config.seed)  # LoRA's A matrices are initialised from this
    loaded = load_model_and_tokenizer(config.base, device=config.device, merge_adapter=False)
    tokenizer, device = loaded.tokenizer, loaded.device
    base_spec = _base_spec_text(loaded.spec)
    model = _trainable_peft_model(loaded.model, config, base_spec)

    train = _tokenize_all(tokenizer, train_chats, config.max_length, "training")
    held_out = _tokenize_all(tokenizer, eval_chats, config.max_length, "held-out")
    if config.overwrite:  # only now that the run can start: the earlier run's checkpoints go
        shutil.rmtree(checkpoint_root(config.output_dir), ignore_errors=True)

    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    batches_per_epoch = math.ceil(len(train) / config.batch_size)
    total_micro: int | None = None  # micro-batches in an epochs-bounded run
    if config.max_steps:
        total_steps = config.max_steps
    else:
        total_micro = config.epochs * batches_per_epoch
        total_steps = math.ceil(total_micro / config.grad_accumulation)

    start_step, resumed_from, loss_before = 0, None, None
    if checkpoint is not None:
        state = load_checkpoint(checkpoint, model, optimizer)
        restore_rng(state)
        start_step = resumed_from = state.step
        loss_before = state.extra["eval_loss_before"]
    if loss_before is None:
        loss_before = evaluate_loss(model, held_out, config.batch_size, tokenizer.pad_token_id)

    order = _BatchOrder(len(train), config.batch_size, config.seed)
    history: list[StepRecord] = []
    model.train()
    bar = tqdm(
        total=total_steps, initial=start_step, desc="finetune", unit="step", disable=not config.progress
    )
    for step in range(start_step, total_steps):
        started = time.perf_counter()
        first = step * config.grad_accumulation
        last = first + config.grad_accumulation
        if total_micro is not None:
            last = min(last, total_micro)  # the final step of an epoch run may be short
        batches = [
            collate([train[i] for i in order.micro_batch(k)], tokenizer.pad_token_id)
            for k in range(first, last)
        ]
        # Normalise by the answer tokens of the whole step, so accumulation gives the same
        # gradient as one big batch however the tokens fall across micro-batches.
        targets = sum(int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()) for batch in batches)
        step_loss = 0.0
        for batch in batches:
            batch = {name: tensor.to(device) for name, tensor in batch.items()}
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits  # (B, T, V)
            # token t predicts token t+1: compare logits[:, :-1] with labels[:, 1:]
            loss = (
                F.cross_entropy(
                    logits[:, :-1].flatten(0, 1).float(),  # (B*(T-1), V)
                    batch["labels"][:, 1:].flatten(),  # (B*(T-1),)
                    ignore_index=IGNORE_INDEX,
                    reduction="sum",
                )
                / max(targets, 1)
            )
            loss.backward()
            step_loss += loss.item()
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        learning_rate = _learning_rate(config, step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        tokens = sum(int(batch["attention_mask"].sum()) for batch in batches)
        history.append(StepRecord(step + 1, step_loss, learning_rate, tokens, time.perf_counter() - started))
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{learning_rate:.1e}")
        done = step + 1
        if config.checkpoint_every and (done % config.checkpoint_every == 0 or done == total_steps):
            torch_rng, cuda_rng = capture_rng()
            state = TrainerState(done, torch_rng, cuda_rng, {"eval_loss_before": loss_before})
            save_checkpoint(config.output_dir, model, optimizer, state, config.keep_checkpoints)
    bar.close()

    loss_after = evaluate_loss(model, held_out, config.batch_size, tokenizer.pad_token_id)
    result = LoraResult(
        adapter_dir=Path(config.output_dir),
        base=base_spec,
        eval_loss_before=loss_before,
        eval_loss_after=loss_after,
        steps=total_steps,
        train_examples=len(train),
        eval_examples=len(held_out),
        resumed_from=resumed_from,
        history=history,
    )
    _save_adapter(model, tokenizer, config, result)
    return result


@torch.no_grad()
def evaluate_loss(model: Any, examples: list[TokenizedExample], batch_size: int, pad_token_id: int) -> float:
    """Mean cross-entropy per answer token over `examples` (lower is better; exp() is perplexity)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_token_id)
        batch = {name: tensor.to(device) for name, tensor in batch.items()}
        logits = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits  # (B, T, V)
        labels = batch["labels"][:, 1:]  # (B, T-1)
        total += F.cross_entropy(
            logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        ).item()
        count += int((labels != IGNORE_INDEX).sum())
    model.train(was_training)
    return total / count


class _BatchOrder:
    """Micro-batch k of the run: epochs follow one another, each in its own seeded shuffle.

    The order depends only on (seed, epoch), never on the global RNG, so a resumed run sees
    exactly the batches the uninterrupted run would have seen.
    """

    def __init__(self, examples: int, batch_size: int, seed: int) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.per_epoch = math.ceil(examples / batch_size)
        self._orders: dict[int, list[int]] = {}

    def micro_batch(self, k: int) -> list[int]:
        epoch, index = divmod(k, self.per_epoch)
        if epoch not in self._orders:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._orders[epoch] = torch.randperm(self.examples, generator=generator).tolist()
        return self._orders[epoch][index * self.batch_size : (index + 1) * self.batch_size]


def _learning_rate(config: LoraTrainingConfig, step: int, total_steps: int) -> float:
    """Linear warm-up to the peak, then linear decay towards zero at the last step."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    return config.learning_rate * (total_steps - step) / max(total_steps - config.warmup_steps, 1)


def _base_spec_text(spec: ModelSpec) -> str:
    """The spec to record as the adapter's base: portable names stay names, paths become absolute."""
    if spec.kind == "embedded":
        return spec.location
    if spec.kind == "peft":  # continuing an adapter: keep the base it was trained on
        config = json.loads((Path(spec.location) / "adapter_config.json").read_text())
        return str(config["base_model_name_or_path"])
    return spec.location if Path(spec.location).is_dir() else spec.text


def _trainable_peft_model(model: Any, config: LoraTrainingConfig, base_spec: str) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    if not isinstance(model, PeftModel):
        lora = LoraConfig(
            r=config.r,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    # peft would record the base's cache directory; a spec survives the cache moving.
    model.peft_config["default"].base_model_name_or_path = base_spec
    return model


def _split(config: LoraTrainingConfig) -> tuple[list[ChatExample], list[ChatExample]]:
    train = read_chat_jsonl(config.train_file)
    if config.eval_file is not None:
        return train, read_chat_jsonl(config.eval_file)
    if len(train) < 2:
        raise NotEnoughData(
            f"{config.train_file} has {len(train)} conversation(s); holding some out to measure the "
            "loss needs at least 2 (tens are better). Add examples or pass eval_file."
        )
    shuffled = train[:]
    random.Random(config.seed).shuffle(shuffled)
    held = max(1, round(len(shuffled) * config.eval_fraction))
    return shuffled[held:], shuffled[:held]


def _tokenize_all(
    tokenizer: Any, chats: list[ChatExample], max_length: int, what: str
) -> list[TokenizedExample]:
    """Tokenize, dropping (with a warning naming the lines) conversations cut before any answer."""
    examples = [tokenize_conversation(tokenizer, chat, max_length) for chat in chats]
    kept = [example for example in examples if example.supervised_tokens > 0]
    if len(kept) < len(examples):
        lines = ", ".join(f"{e.source}:{e.line}" for e in examples if e.supervised_tokens == 0)
        warnings.warn(
            f"skipped {len(examples) - len(kept)} {what} conversation(s) whose answer starts after "
            f"max_length={max_length} tokens ({lines}); raise max_length to keep them",
            stacklevel=3,
        )
    if not kept:
        raise NotEnoughData(
            f"no {what} conversation has answer tokens within max_length={max_length}; raise max_length"
        )
    return kept


_OURS = ("adapter_config.json", SUMMARY_FILE, "checkpoints")
"""Entries that mark a directory as an earlier run's output (the adapter, or its checkpoints)."""


def _earlier_run(config: LoraTrainingConfig) -> Path | None:
    """The checkpoint to resume from, after checking that `output_dir` may be written.

    Only `resume` continues an earlier run; without it an earlier adapter or checkpoint is
    refused (a new run silently continuing an old one trains on stale state). A directory
    with files coassist did not write is always refused: the finished adapter replaces the
    whole directory (only its ``checkpoints`` are carried over).
    """
    output = Path(config.output_dir)
    checks.output_dir("output_dir", output)
    entries = sorted(path.name for path in output.iterdir()) if output.is_dir() else []
    if not entries:
        return None
    if not any(name in _OURS for name in entries):
        raise OutputDirInUse(
            f"output_dir {output} already holds files coassist did not write ({', '.join(entries[:5])}"
            f"{', ...' if len(entries) > 5 else ''}), and the adapter would replace the whole directory; "
            "pass an empty or new --out (output_dir)",
            str(output),
        )
    checkpoints = list_checkpoints(output)
    adapter = (output / "adapter_config.json").is_file()
    held = " and ".join(
        [
            *(["a trained adapter"] if adapter else []),
            *([f"checkpoints (newest: {checkpoints[-1].name})"] if checkpoints else []),
        ]
    )
    if config.resume:
        if checkpoints:
            return checkpoints[-1]
        if adapter:
            raise OutputDirInUse(
                f"output_dir {output} holds a finished adapter but no checkpoint to resume from; pass "
                "--overwrite (overwrite=True) to train a new one in its place, or a new --out",
                str(output),
            )
        return None
    if held and not config.overwrite:
        raise OutputDirInUse(
            f"output_dir {output} already holds {held} from an earlier run; pass --resume (resume=True) "
            "to continue it, a new --out (output_dir), or --overwrite (overwrite=True) to replace it",
            str(output),
        )
    return None


def _save_adapter(model: Any, tokenizer: Any, config: LoraTrainingConfig, result: LoraResult) -> None:
    """The adapter in PEFT format, the tokenizer beside it, and a summary for provenance, all
    renamed into place at once (the run's checkpoints are carried over)."""
    with atomic_directory(Path(config.output_dir), keep=("checkpoints",)) as output:
        model.save_pretrained(output)
        tokenizer.save_pretrained(output)
        _write_summary(output, config, result)


def _write_summary(output: Path, config: LoraTrainingConfig, result: LoraResult) -> None:
    summary = {
        "base": result.base,
        "eval_loss_before": result.eval_loss_before,
        "eval_loss_after": result.eval_loss_after,
        "steps": result.steps,
        "train_examples": result.train_examples,
        "eval_examples": result.eval_examples,
        "config": {
            name: str(value) if isinstance(value, Path) else value for name, value in asdict(config).items()
        },
    }
    (output / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
