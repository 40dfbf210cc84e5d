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
import os
import random
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from coassist.atomic_dir import atomic_directory
from coassist.errors import InvalidTrainingConfig, NotEnoughData, OutputDirInUse
from coassist.eval import product_defaults
from coassist.eval.report import Summary, summarise
from coassist.eval.runner import TaskResult, run_task
from coassist.eval.team import CHRF_PASS, TeamTask
from coassist.llm.chat import GenerationSettings
from coassist.llm.device import resolve_device, training_dtype
from coassist.llm.loading import adapter_base_spec, load_model_and_tokenizer, quiet_peft_notices
from coassist.llm.spec import DEFAULT_SPEC, ModelSpec
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
    SftExample,
    TokenizedExample,
    collate,
    read_sft_jsonl,
    tokenize_example,
)

LLAMA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Every linear layer of a Llama block: adapting the MLP too learns more per step than q/v alone
(the QLoRA paper's finding) for little extra compute on a model this size."""

SUMMARY_FILE = "coassist_training.json"

MIN_HELD_OUT_TO_DECIDE = 10
"""Held-out conversations below which the answer comparison gives no verdict: with fewer, one
answer moves the mean chrF by several points, more than a short run usually changes it."""

Batch = dict[str, torch.Tensor]
"""A collated micro-batch: ``input_ids``, ``attention_mask`` and ``labels``, each (B, T)."""


@dataclass
class LoraTrainingConfig:
    """What to fine-tune, on what, and how; validated when built.

    Each field's ``metadata["help"]`` is its documentation and its ``coassist finetune``
    option's help; ``metadata["flag"]`` names the option where it is not ``--field-name``.
    Paths may be given as strings; they are `Path` objects once built.

    Examples
    --------
    >>> LoraTrainingConfig(train_file="train.jsonl", output_dir="adapter", max_steps=20).r
    8
    >>> LoraTrainingConfig(train_file="train.jsonl", output_dir="adapter").output_dir
    PosixPath('adapter')
    >>> LoraTrainingConfig(train_file="train.jsonl", output_dir="adapter", eval_fraction=1.5)
    Traceback (most recent call last):
    ...
    coassist.errors.InvalidTrainingConfig: eval_fraction must be in (0, 1), got 1.5
    """

    train_file: Path = field(
        metadata={
            "flag": "--data",
            "help": 'SFT JSONL: one {"messages": [...]} conversation or {"prompt": ..., "completion": ...} '
            "plain continuation per line",
        }
    )
    output_dir: Path = field(
        metadata={"flag": "--out", "help": "directory for the adapter and its checkpoints"}
    )
    base: str = field(
        default=DEFAULT_SPEC,
        metadata={
            "help": "model spec to adapt; an adapter spec continues training that adapter (its own rank, "
            "alpha and target modules then apply), as the default, coassist's own adapter, is continued"
        },
    )
    eval_file: Path | None = field(
        default=None,
        metadata={
            "flag": "--eval-data",
            "help": "held-out SFT JSONL (default: hold out --eval-fraction of --data)",
        },
    )
    eval_fraction: float = field(
        default=0.1,
        metadata={
            "help": "share of --data held out (at least one conversation) when there is no --eval-data"
        },
    )
    eval_max_new_tokens: int = field(
        default=128,
        metadata={
            "help": "after training, the base and the adapter answer each held-out conversation (greedy, "
            "at most this many tokens), scored by chrF against its last answer as `coassist eval` scores "
            "team drafts; 0 skips this comparison"
        },
    )
    epochs: int = field(default=3, metadata={"help": "passes over the training conversations"})
    max_steps: int | None = field(
        default=None,
        metadata={
            "help": "optimizer steps (overrides --epochs), cycling through the data as often as needed"
        },
    )
    # LoRA tolerates about 10x the learning rate of full fine-tuning.
    learning_rate: float = field(
        default=2e-4,
        metadata={"flag": "--lr", "help": "peak learning rate (AdamW, then linear decay to zero)"},
    )
    warmup_steps: int = field(default=0, metadata={"help": "steps of linear warm-up before the linear decay"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_grad_norm: float = field(
        default=1.0, metadata={"help": "clip the global gradient norm to this (0 disables clipping)"}
    )
    batch_size: int = field(default=4, metadata={"help": "conversations per micro-batch"})
    grad_accumulation: int = field(
        default=1,
        metadata={
            "help": "micro-batches per optimizer step (effective batch: batch size x grad accumulation)"
        },
    )
    r: int = field(default=8, metadata={"help": "LoRA rank"})
    alpha: int = field(
        default=16, metadata={"help": "LoRA scaling numerator: the update is scaled by alpha / r"}
    )
    dropout: float = field(default=0.05, metadata={"help": "dropout on the LoRA branch's input"})
    target_modules: tuple[str, ...] = field(
        default=LLAMA_TARGET_MODULES,
        metadata={
            "help": "comma-separated layer names: the linear layers to adapt (the default fits "
            "Llama-family models such as SmolLM2)"
        },
    )
    max_length: int = field(
        default=512, metadata={"help": "tokens per conversation; longer ones are cut on the right"}
    )
    group_by_length: bool = field(
        default=True,
        metadata={
            "help": "batch conversations of similar length together (less padding: faster, above all on "
            "a CPU); the batches are still drawn in a seeded random order"
        },
    )
    seed: int = field(
        default=0,
        metadata={"help": "seeds the data split, the batch order, LoRA's initialisation and dropout"},
    )
    checkpoint_every: int = field(
        default=50, metadata={"help": "save a checkpoint every this many steps (0: only the final adapter)"}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "how many of the newest checkpoints to keep"})
    resume: bool = field(
        default=False,
        metadata={
            "help": "continue from the newest checkpoint in --out (without it or --overwrite, an --out "
            "that holds an adapter or checkpoints is refused, never reused)"
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "train afresh in an --out that holds an earlier run (its checkpoints are deleted at "
            "the start; its adapter is replaced when the new one is done)"
        },
    )
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA when visible, else CPU), cpu or cuda[:N]"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        """Normalise paths, and check every field (`InvalidTrainingConfig` names the one at fault)."""
        self.train_file = Path(self.train_file)
        self.output_dir = Path(self.output_dir)
        self.eval_file = Path(self.eval_file) if self.eval_file is not None else None
        if isinstance(self.target_modules, str):  # "q_proj" would otherwise become ("q", "_", ...)
            self.target_modules = (self.target_modules,)
        self.target_modules = tuple(self.target_modules)
        checks.output_dir("output_dir", self.output_dir)
        checks.non_blank("base", self.base, "a model spec such as 'smollm2'")
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
        for name in ("warmup_steps", "checkpoint_every", "seed", "eval_max_new_tokens"):
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


@dataclass(frozen=True)
class HeldOutComparison:
    """The base and the adapter answering the held-out conversations, scored as `coassist eval`
    scores the team's reviewed drafts: chrF (0-100) of each answer against the conversation's
    last answer, passed at chrF >= `CHRF_PASS`.

    The held-out loss says how likely the reference answers became; this says whether the
    answers the model now writes are closer to them, which is what a reviewer sees.
    """

    base: Summary
    """The model training started from (`LoraTrainingConfig.base`)."""
    adapter: Summary
    adapter_higher: int
    """Conversations on which the adapter's answer scores a higher chrF than the base's."""

    @property
    def n(self) -> int:
        return self.adapter.n

    @property
    def adapter_is_better(self) -> bool:
        """A higher mean chrF (say nothing about `n`: `verdict` does)."""
        return _mean_chrf(self.adapter) > _mean_chrf(self.base)

    def summary(self) -> str:
        """``held-out chrF 31.2 -> 38.5, pass 1/4 -> 2/4, degenerate 0/4 -> 0/4``."""
        base, adapter = self.base, self.adapter
        return (
            f"held-out chrF {_mean_chrf(base):.1f} -> {_mean_chrf(adapter):.1f}, "
            f"pass {base.passed}/{base.n} -> {adapter.passed}/{adapter.n}, "
            f"degenerate {_degenerate(base)}/{base.n} -> {_degenerate(adapter)}/{adapter.n}"
        )

    def verdict(self, adapter_dir: Path) -> str:
        """One line: is the adapter better on the held-out split, and how to switch to it if so."""
        counted = (
            f"mean chrF {_mean_chrf(self.base):.1f} -> {_mean_chrf(self.adapter):.1f}, "
            f"higher on {self.adapter_higher} of {self.n} conversations"
        )
        if self.n < MIN_HELD_OUT_TO_DECIDE:
            return (
                f"n={self.n}: too few to decide ({counted}); hold out at least {MIN_HELD_OUT_TO_DECIDE} "
                "conversations (--eval-data, --eval-fraction)"
            )
        if not self.adapter_is_better:
            return f"the adapter is not better on the held-out split ({counted}); keep the current model"
        return (
            f"the adapter is better on the held-out split ({counted}); "
            f'switch with: %config Assist.model = "{adapter_dir.resolve()}"'
        )


def _mean_chrf(summary: Summary) -> float:
    """The mean chrF of the answers; 0 when no held-out prompt fitted the model's context."""
    return summary.mean_value if summary.mean_value is not None else 0.0


def _degenerate(summary: Summary) -> int:
    return round(summary.degenerate_rate * summary.n)


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
    held_out: HeldOutComparison | None = None
    """The base's and the adapter's held-out answers, scored; None when `eval_max_new_tokens` is 0."""

    @property
    def tokens_per_second(self) -> float:
        seconds = sum(record.seconds for record in self.history)
        return sum(record.tokens for record in self.history) / seconds if seconds else 0.0

    def summary(self) -> str:
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from is not None else ""
        answers = f"; {self.held_out.summary()}" if self.held_out is not None else ""
        return (
            f"held-out loss {self.eval_loss_before:.4f} -> {self.eval_loss_after:.4f} "
            f"after {self.steps} steps{resumed} on {self.train_examples} conversations "
            f"({self.eval_examples} held out){answers}; adapter: {self.adapter_dir}"
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
        With the held-out loss before and after, the per-step history, and (unless
        `eval_max_new_tokens` is 0) the base's and the adapter's held-out answers scored as
        `coassist eval` scores team drafts.

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

    The body (about 50 lines, past the usual 60 with this docstring) is the whole run kept in
    one piece on purpose, as nanoGPT's train.py is: setup, the loop, the save, the comparison,
    read top to bottom. Each thing it does is a named function (`_train_step`, `_answer_loss`, ...).

    Examples
    --------
    >>> result = finetune_lora(LoraTrainingConfig("examples/data/sft_example.jsonl", "adapter",
    ...                                           max_steps=20))  # doctest: +SKIP
    >>> load_chat_model(str(result.adapter_dir))  # doctest: +SKIP
    """
    checkpoint = _earlier_run(config)  # refuses a used output_dir before anything is written
    train_chats, eval_chats = _split(config)  # before loading the model: bad data fails fast
    model, tokenizer, base_spec = _load_trainable(config)
    pad = tokenizer.pad_token_id
    train = _tokenize_all(tokenizer, train_chats, config.max_length, "training")
    held_out = _tokenize_all(tokenizer, eval_chats, config.max_length, "held-out")
    if config.overwrite:  # only now that the run can start: the earlier run's checkpoints go
        shutil.rmtree(checkpoint_root(config.output_dir), ignore_errors=True)

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps = _StepPlan.of(config, len(train))
    start_step, loss_before = _resume(checkpoint, model, optimizer)
    if loss_before is None:
        loss_before = evaluate_loss(model, held_out, config.batch_size, pad)

    lengths = [len(example.input_ids) for example in train] if config.group_by_length else None
    order = _BatchOrder(len(train), config.batch_size, config.seed, lengths)
    history: list[StepRecord] = []
    model.train()
    bar = tqdm(
        total=steps.total, initial=start_step, desc="finetune", unit="step", disable=not config.progress
    )
    for step in range(start_step, steps.total):
        started = time.perf_counter()
        batches = [collate([train[i] for i in order.micro_batch(k)], pad) for k in steps.micro_batches(step)]
        learning_rate = _learning_rate(config, step, steps.total)
        loss = _train_step(model, optimizer, batches, learning_rate, config.max_grad_norm)
        tokens = sum(int(batch["attention_mask"].sum()) for batch in batches)
        history.append(StepRecord(step + 1, loss, learning_rate, tokens, time.perf_counter() - started))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{learning_rate:.1e}")
        if config.checkpoint_every and ((step + 1) % config.checkpoint_every == 0 or step + 1 == steps.total):
            _save_checkpoint(config, model, optimizer, step + 1, loss_before)
    bar.close()

    result = LoraResult(
        adapter_dir=config.output_dir,
        base=base_spec,
        eval_loss_before=loss_before,
        eval_loss_after=evaluate_loss(model, held_out, config.batch_size, pad),
        steps=steps.total,
        train_examples=len(train),
        eval_examples=len(held_out),
        resumed_from=start_step if checkpoint is not None else None,
        history=history,
    )
    _save_adapter(model, tokenizer, config, result)
    del model, optimizer, trainable  # free the training copy before the compared models load
    result.held_out = _compare_on_held_out(config, eval_chats)
    _write_summary(config.output_dir, config, result)  # again, now with the comparison
    return result


def _compare_on_held_out(config: LoraTrainingConfig, examples: list[SftExample]) -> HeldOutComparison | None:
    """Score the base's and the saved adapter's answers to the held-out conversations (None when
    `eval_max_new_tokens` is 0, or when none is held out: plain continuations are only scored
    by their loss).

    Each model loads from its spec on the training device, the adapter merged, as
    `load_chat_model` would load it, but outside its cache, so each is freed once scored.
    Answers are greedy with the product's other generation defaults (what a user would see),
    cut at `eval_max_new_tokens`. Every held-out conversation counts, also one whose answer
    `max_length` cut from the loss: the answer is written afresh, the reference is whole.
    """
    chats = [example for example in examples if isinstance(example, ChatExample)]
    if not config.eval_max_new_tokens or not chats:
        return None
    tasks = [_held_out_task(chat, config.eval_max_new_tokens) for chat in chats]
    settings = replace(product_defaults(), temperature=0.0)
    base = _answer_all(config.base, tasks, settings, config)
    adapter = _answer_all(str(config.output_dir), tasks, settings, config)
    higher = sum((a.value or 0.0) > (b.value or 0.0) for a, b in zip(adapter, base, strict=True))
    return HeldOutComparison(
        summarise(config.base, "team", base), summarise(str(config.output_dir), "team", adapter), higher
    )


def _held_out_task(chat: ChatExample, max_new_tokens: int) -> TeamTask:
    """The conversation up to its last answer as a team task: the messages before that answer
    are the prompt, the answer is the reference."""
    last = max(i for i, message in enumerate(chat.messages) if message["role"] == "assistant")
    return TeamTask(
        id=f"{chat.source}:{chat.line}",
        messages=tuple(chat.messages[:last]),
        reference=chat.messages[last]["content"],
        max_new_tokens=max_new_tokens,
    )


def _answer_all(
    spec: str, tasks: list[TeamTask], settings: GenerationSettings, config: LoraTrainingConfig
) -> list[TaskResult]:
    from coassist.llm.local import LocalChatModel

    model = LocalChatModel(load_model_and_tokenizer(spec, device=config.device))
    bar = tqdm(tasks, desc=f"answer held-out ({spec})", unit="answer", disable=not config.progress)
    return [run_task(model, task, settings) for task in bar]


def _train_step(
    model: Any,
    optimizer: torch.optim.Optimizer,
    batches: list[Batch],
    learning_rate: float,
    max_grad_norm: float,
) -> float:
    """One optimizer step over the step's micro-batches; return its loss per answer token."""
    # Normalise by the answer tokens of the whole step, so accumulation gives the same
    # gradient as one big batch however the tokens fall across micro-batches.
    targets = max(sum(_answer_tokens(batch) for batch in batches), 1)
    step_loss = 0.0
    for batch in batches:
        loss = _answer_loss(model, batch) / targets
        loss.backward()  # gradients add up over the micro-batches
        step_loss += loss.item()
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return step_loss


@torch.no_grad()
def evaluate_loss(model: Any, examples: list[TokenizedExample], batch_size: int, pad_token_id: int) -> float:
    """Mean cross-entropy per answer token over `examples` (lower is better; exp() is perplexity)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size], pad_token_id)
        total += _answer_loss(model, batch).item()
        count += _answer_tokens(batch)
    model.train(was_training)
    return total / count


def _answer_loss(model: Any, batch: Batch) -> torch.Tensor:
    """Cross-entropy summed over the answer tokens of `batch`: the one loss, for training and
    evaluation. Summed, not averaged: the caller divides by the answer tokens of the whole step
    (training) or of the whole held-out set (evaluation), so batch boundaries do not weigh in.

    Logits are computed only at the positions that predict an answer token in some row
    (`logits_to_keep`): a prompt is most of a conversation, and its logits over a 49k-word
    vocabulary would cost a gigabyte a batch and a tenth of the time, for nothing.
    """
    device = next(model.parameters()).device
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    targets = batch["labels"][:, 1:]  # token t+1 is predicted at position t
    positions = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)  # (K,)
    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False, logits_to_keep=positions
    ).logits  # (B, K, V)
    return F.cross_entropy(
        logits.flatten(0, 1).float(),  # (B*K, V)
        targets[:, positions].flatten(),  # (B*K,)
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )


def _answer_tokens(batch: Batch) -> int:
    """The tokens `_answer_loss` sums over: answer tokens, bar a first token nothing predicts."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


@dataclass(frozen=True)
class _StepPlan:
    """How many optimizer steps the run takes, and which micro-batches each step uses."""

    total: int
    accumulation: int
    micro_batches_in_run: int | None
    """Micro-batches in an epochs-bounded run (its last step may be short); None with max_steps."""

    @classmethod
    def of(cls, config: LoraTrainingConfig, train_examples: int) -> _StepPlan:
        if config.max_steps:
            return cls(config.max_steps, config.grad_accumulation, None)
        micro_batches = config.epochs * math.ceil(train_examples / config.batch_size)
        return cls(
            math.ceil(micro_batches / config.grad_accumulation), config.grad_accumulation, micro_batches
        )

    def micro_batches(self, step: int) -> range:
        """Indices (counted over the whole run) of the micro-batches step `step` (0-based) takes."""
        first = step * self.accumulation
        last = first + self.accumulation
        if self.micro_batches_in_run is not None:
            last = min(last, self.micro_batches_in_run)  # the final step of an epoch run may be short
        return range(first, last)


class _BatchOrder:
    """Micro-batch k of the run: epochs follow one another, each in its own seeded shuffle.

    The order depends only on (seed, epoch), never on the global RNG, so a resumed run sees
    exactly the batches the uninterrupted run would have seen.

    With `lengths` (group by length), each run of `LENGTH_GROUP` batches' worth of the shuffled
    examples is sorted by length before it is cut into batches, and the batches are then
    shuffled: a batch pads its examples to its longest, and on a CPU the padding costs as much
    as the tokens. The examples a batch holds stay random across the run.
    """

    LENGTH_GROUP = 32

    def __init__(self, examples: int, batch_size: int, seed: int, lengths: list[int] | None = None) -> None:
        self.examples = examples
        self.batch_size = batch_size
        self.seed = seed
        self.lengths = lengths
        self.per_epoch = math.ceil(examples / batch_size)
        self._batches: dict[int, list[list[int]]] = {}

    def micro_batch(self, k: int) -> list[int]:
        epoch, index = divmod(k, self.per_epoch)
        if epoch not in self._batches:
            self._batches[epoch] = self._epoch(epoch)
        return self._batches[epoch][index]

    def _epoch(self, epoch: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        order = torch.randperm(self.examples, generator=generator).tolist()
        if self.lengths is not None:
            lengths, group = self.lengths, self.batch_size * self.LENGTH_GROUP
            order = [i for start in range(0, len(order), group) for i in sorted(order[start : start + group], key=lambda i: -lengths[i])]
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        if self.lengths is not None:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches


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
        # Read as loading.py read it to load the base: one reading of adapter_config.json.
        return adapter_base_spec(Path(spec.location)).text
    return spec.location if Path(spec.location).is_dir() else spec.text


def _load_trainable(config: LoraTrainingConfig) -> tuple[Any, Any, str]:
    """The PEFT model to train (seeded), its tokenizer, and the base spec the adapter records."""
    random.seed(config.seed)
    torch.manual_seed(config.seed)  # LoRA's A matrices are initialised from this
    device = resolve_device(config.device)
    loaded = load_model_and_tokenizer(
        config.base, device=config.device, dtype=training_dtype(device), merge_adapter=False
    )
    base_spec = _base_spec_text(loaded.spec)
    return _trainable_peft_model(loaded.model, config, base_spec), loaded.tokenizer, base_spec


def _resume(
    checkpoint: Path | None, model: Any, optimizer: torch.optim.Optimizer
) -> tuple[int, float | None]:
    """Restore `checkpoint` (weights, optimizer, RNG); return its step and the held-out loss
    measured before the run began. Without a checkpoint: step 0, and no loss yet."""
    if checkpoint is None:
        return 0, None
    state = load_checkpoint(checkpoint, model, optimizer)
    restore_rng(state)
    return state.step, state.extra["eval_loss_before"]


def _save_checkpoint(
    config: LoraTrainingConfig, model: Any, optimizer: torch.optim.Optimizer, done: int, loss_before: float
) -> None:
    """Checkpoint after `done` steps, with the RNG state the next step starts from."""
    torch_rng, cuda_rng = capture_rng()
    state = TrainerState(done, torch_rng, cuda_rng, {"eval_loss_before": loss_before})
    save_checkpoint(config.output_dir, model, optimizer, state, config.keep_checkpoints)


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
        with quiet_peft_notices():
            model = get_peft_model(model, lora)
    # peft would record the base's cache directory; a spec survives the cache moving.
    model.peft_config["default"].base_model_name_or_path = base_spec
    return model


def _split(config: LoraTrainingConfig) -> tuple[list[SftExample], list[SftExample]]:
    train = read_sft_jsonl(config.train_file)
    if config.eval_file is not None:
        return train, read_sft_jsonl(config.eval_file)
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
    tokenizer: Any, sft_examples: list[SftExample], max_length: int, what: str
) -> list[TokenizedExample]:
    """Tokenize, dropping (with a warning naming the lines) examples cut before any answer."""
    examples = [tokenize_example(tokenizer, example, max_length) for example in sft_examples]
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
    output = config.output_dir
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
    with atomic_directory(config.output_dir, keep=("checkpoints",)) as output, quiet_peft_notices():
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
        "held_out_answers": _comparison_summary(result),
        "config": {
            name: str(value) if isinstance(value, Path) else value for name, value in asdict(config).items()
        },
    }
    staged = output / (SUMMARY_FILE + ".tmp")  # replaced whole: a crash never leaves half a summary
    staged.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(staged, output / SUMMARY_FILE)


def _comparison_summary(result: LoraResult) -> dict[str, Any] | None:
    comparison = result.held_out
    if comparison is None:
        return None
    return {
        "chrf_pass": CHRF_PASS,
        "base": asdict(comparison.base),
        "adapter": asdict(comparison.adapter),
        "adapter_higher": comparison.adapter_higher,
        "verdict": comparison.verdict(result.adapter_dir),
    }
