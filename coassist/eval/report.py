"""Aggregate task results into one row per model and category: pass rates, loops, speed.

A pass rate over 20 or 164 problems is noisy, so every rate comes with a Wilson 95% interval
(sound at 0 and n passes, unlike the normal approximation). Speed is split the way a user
feels it: time to the first token (the wait before anything appears) and the decode rate
after it. A batched answer has timings of its own too: from when its prompt began to be read,
while it shared the model's steps with the other answers decoding at the time.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from coassist.eval.runner import TaskResult
from coassist.eval.tasks import CATEGORIES, Category

Z_95 = 1.959963984540054
"""The standard normal quantile for a two-sided 95% interval."""

Row = Category | Literal["all"]


def wilson_interval(passed: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for `passed` successes out of `n`; (0, 1) when n is 0.

    >>> [round(x, 4) for x in wilson_interval(0, 10)]
    [0.0, 0.2775]
    """
    if n == 0:
        return (0.0, 1.0)
    rate = passed / n
    denominator = 1 + z * z / n
    centre = (rate + z * z / (2 * n)) / denominator
    half_width = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - half_width), min(1.0, centre + half_width))


@dataclass(frozen=True)
class Summary:
    """One model on one category (or on all its tasks, `category == "all"`).

    Attributes
    ----------
    n, passed:
        Tasks answered, and how many passed.
    pass_rate, ci_low, ci_high:
        passed / n with its Wilson 95% interval.
    degenerate_rate:
        Share of answers that loop as shown (`coassist.llm.degenerate.is_degenerate`).
    loop_stopped_rate:
        Share of answers whose generation was stopped where it began to loop (finish
        "repetition"; the repeats were dropped, so the answer shown does not loop).
    cutoff_rate:
        Share of answers that reached the token limit (finish "length").
    median_first_token_s:
        Median over answers of the seconds from reading the prompt to the first token (the
        prompt's prefill); None without tokens.
    decode_tokens_per_second:
        Tokens after each answer's first over the seconds they took, summed over answers
        (long answers weigh more, as they do in a user's wait): one answer's decode rate, a
        share of the batch's steps when answers were batched. None when no answer had two
        tokens.
    mean_value:
        Mean graded score (chrF for team drafts) over answers that have one; None otherwise.
    """

    model: str
    category: Row
    n: int
    passed: int
    pass_rate: float
    ci_low: float
    ci_high: float
    degenerate_rate: float
    loop_stopped_rate: float
    cutoff_rate: float
    median_first_token_s: float | None
    decode_tokens_per_second: float | None
    mean_value: float | None


def summarise(model: str, category: Row, results: Sequence[TaskResult]) -> Summary:
    """The summary row for `results` (all from `model`, all in `category` unless it is "all")."""
    n = len(results)
    passed = sum(result.passed for result in results)
    ci_low, ci_high = wilson_interval(passed, n)
    first_token = [r.first_token_seconds for r in results if r.first_token_seconds is not None]
    decoding = [tokens_and_seconds for result in results if (tokens_and_seconds := _decoding(result))]
    decode_seconds = sum(seconds for _, seconds in decoding)
    values = [r.value for r in results if r.value is not None]
    return Summary(
        model=model,
        category=category,
        n=n,
        passed=passed,
        pass_rate=passed / n if n else 0.0,
        ci_low=ci_low,
        ci_high=ci_high,
        degenerate_rate=sum(r.degenerate for r in results) / n if n else 0.0,
        loop_stopped_rate=sum(r.finish == "repetition" for r in results) / n if n else 0.0,
        cutoff_rate=sum(r.finish == "length" for r in results) / n if n else 0.0,
        median_first_token_s=statistics.median(first_token) if first_token else None,
        decode_tokens_per_second=sum(tokens for tokens, _ in decoding) / decode_seconds if decode_seconds else None,
        mean_value=statistics.fmean(values) if values else None,
    )


def _decoding(result: TaskResult) -> tuple[int, float] | None:
    """An answer's tokens after its first, and the seconds they took; None when it decoded
    nothing after a first token."""
    if result.first_token_seconds is None or result.new_tokens < 2:
        return None
    seconds = result.seconds - result.first_token_seconds
    return (result.new_tokens - 1, seconds) if seconds > 0 else None


@dataclass(frozen=True)
class EvalReport:
    """Every task result of an evaluation, with its summaries; ``str(report)`` is the table.

    `notes` are set-level facts that do not depend on the model (the router's mean p_pass over
    the team subtasks), printed under the table and kept in the JSON.
    """

    results: list[TaskResult]
    interrupted: bool = False
    notes: dict[str, str] = field(default_factory=dict)

    def summaries(self) -> list[Summary]:
        """Per model (in evaluation order): one row per category present, then "all"."""
        rows = []
        for model in dict.fromkeys(result.model for result in self.results):
            mine = [result for result in self.results if result.model == model]
            for category in CATEGORIES:
                in_category = [result for result in mine if result.category == category]
                if in_category:
                    rows.append(summarise(model, category, in_category))
            rows.append(summarise(model, "all", mine))
        return rows

    def table(self) -> str:
        """Plain text, aligned columns, for the terminal."""
        cells = [_HEADER, *(_cells(summary) for summary in self.summaries())]
        widths = [max(len(row[i]) for row in cells) for i in range(len(_HEADER))]
        lines = [
            "  ".join(cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(row, widths, strict=True)))
            for row in cells
        ]
        return "\n".join([*lines, *self._footer()])

    def markdown(self) -> str:
        """The same table as Markdown, for docs/evaluation.md."""
        lines = ["| " + " | ".join(_HEADER) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(_HEADER) - 2)) + "|"]
        lines += ["| " + " | ".join(_cells(summary)) + " |" for summary in self.summaries()]
        footer = self._footer()
        return "\n".join([*lines, "", *footer] if footer else lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "interrupted": self.interrupted,
            "notes": self.notes,
            "summaries": [asdict(summary) for summary in self.summaries()],
            "results": [result.as_dict() for result in self.results],
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def _footer(self) -> list[str]:
        lines = [f"{name}: {text}" for name, text in self.notes.items()]
        if any(result.batch is not None for result in self.results):
            lines.append(
                "batched: answers decoded --batch-size at a time, a finished one making room for the next; "
                "ttft s and tok/s are each answer's own while it shared the model's steps (--batch-size 1 for an answer alone)"
            )
        if self.interrupted:
            lines.append("interrupted: the rows above count only the tasks finished before Ctrl-C")
        return lines

    def __str__(self) -> str:
        return self.table()


_HEADER = ["model", "set", "n", "passed", "rate", "95% CI", "degenerate", "loop stopped", "cut off", "ttft s", "tok/s", "chrF"]


def _cells(summary: Summary) -> list[str]:
    return [
        summary.model,
        summary.category,
        str(summary.n),
        str(summary.passed),
        _percent(summary.pass_rate),
        f"{summary.ci_low * 100:.0f}-{summary.ci_high * 100:.0f}%",
        _percent(summary.degenerate_rate),
        _percent(summary.loop_stopped_rate),
        _percent(summary.cutoff_rate),
        _number(summary.median_first_token_s, 2),
        _number(summary.decode_tokens_per_second, 1),
        _number(summary.mean_value, 1),
    ]


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}%"


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
