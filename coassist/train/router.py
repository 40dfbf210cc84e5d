"""The router in use: p_pass, the chance the AI's draft of a subtask passes review unchanged.

A `Router` predicts p_pass from a subtask's text (a fine-tuned classifier) or, when it was
trained on too few decisions, from the subtask's skill (a per-skill prior). It is saved as a
directory and loaded back with `Router.load`. `coassist.train.router_training` makes one.

The allocator takes p_pass as numbers: `fill_p_pass(tasks, router)` fills a tasks table, and a
`Router` is itself a p_pass router (call it with subtasks that have `id`, `skill`, `title`).
Both read a subtask's text the way the review export writes router labels
(`coassist.subtask_text`), so the router scores the same text it was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from coassist.atomic_dir import atomic_directory
from coassist.errors import OutputDirInUse
from coassist.llm.device import resolve_device
from coassist.subtask_text import subtask_text
from coassist.train.minilm import load_encoder
from coassist.train.skill_prior import SkillPrior

ROUTER_FILE = "router.json"


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

    def encode(self, texts: list[str]) -> Any:
        """The classifier's input for `texts`: token ids and attention mask, padded to the
        longest and cut at `max_length` tokens (a tokenizer `BatchEncoding` of tensors)."""
        return self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )

    @torch.inference_mode()
    def predict_p_pass(
        self, texts: Sequence[str], skills: Sequence[str | None] | None = None, batch_size: int = 64
    ) -> list[float]:
        """P(the AI's draft passes review) for each subtask text, in order.

        `skills` is only read by a prior-only router (the classifier reads the text).

        >>> Router(SkillPrior(0.5, {"sql": 0.75})).predict_p_pass(["q", "r"], ["sql", None])
        [0.75, 0.5]
        """
        if not self.uses_classifier:
            return [
                self.prior.p_pass(skill) for skill in (skills if skills is not None else [None] * len(texts))
            ]
        self.model.eval()
        device = next(self.model.parameters()).device
        p_pass: list[float] = []
        for start in range(0, len(texts), batch_size):
            batch = self.encode(list(texts[start : start + batch_size])).to(device)
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
        check_router_dir(directory)
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
        model, tokenizer = load_encoder(str(directory), resolve_device(device))
        return cls(prior, model, tokenizer, meta["max_length"])


def check_router_dir(directory: Path) -> None:
    """`directory` may receive a router: absent, empty, or holding an earlier router (replaced).

    Raises
    ------
    OutputDirInUse
        `directory` is a file, or holds files that are not a router.
    """
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
    """A subtask's router text from loosely typed fields (a table's NaN, an object's missing
    attribute): a blank title becomes ``"<id> (<skill>)"``, a missing description none."""
    title = title if isinstance(title, str) and title.strip() else f"{task_id} ({skill})"
    return subtask_text(title, description if isinstance(description, str) else "")
