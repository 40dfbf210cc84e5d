"""How good are predicted probabilities? Accuracy, Brier score, reliability bins and ECE.

A router's p_pass feeds the allocator's expected-rework cost, so it must be *calibrated*, not
merely rank subtasks well: among subtasks given p_pass = 0.8, about 80% should pass review.
The reliability bins show that directly; ECE summarises them in one number.

>>> bins = reliability_bins([0.1, 0.3, 0.75, 1.0], [0, 1, 1, 1], n_bins=2)
>>> [(b.lower, b.upper, b.count, b.mean_predicted, b.fraction_positive) for b in bins]
[(0.0, 0.5, 2, 0.2, 0.5), (0.5, 1.0, 2, 0.875, 1.0)]
>>> expected_calibration_error([0.1, 0.3, 0.75, 1.0], [0, 1, 1, 1], n_bins=2)  # (|0.2-0.5| + |0.875-1|) / 2
0.2125
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions with p in [lower, upper) (the last bin includes 1.0) and how they turned out."""

    lower: float
    upper: float
    count: int
    mean_predicted: float
    """Mean p in the bin (NaN when empty)."""
    fraction_positive: float
    """Share of the bin's examples that passed (NaN when empty)."""


@dataclass(frozen=True)
class CalibrationReport:
    """Held-out quality of predicted probabilities."""

    n: int
    accuracy: float
    """Share of examples where (p >= 0.5) equals the label."""
    brier: float
    """Mean squared error of p against the 0/1 label: 0 is perfect, 0.25 is always saying 0.5."""
    ece: float
    """Expected calibration error: count-weighted mean |mean p - pass rate| over the bins."""
    bins: list[ReliabilityBin]
    base_rate: float
    """Pass rate in the data; a constant prediction of it scores Brier = base_rate * (1 - base_rate)."""

    def summary(self) -> str:
        return (
            f"held-out n={self.n}: accuracy {self.accuracy:.3f}, Brier {self.brier:.4f} "
            f"(constant base rate: {self.base_rate * (1 - self.base_rate):.4f}), ECE {self.ece:.4f}"
        )


def reliability_bins(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> list[ReliabilityBin]:
    """Split [0, 1] into `n_bins` equal-width bins and compare mean p with the pass rate in each."""
    p, y = _as_arrays(probabilities, labels)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # np.digitize puts p == 1.0 past the last edge; clip it into the last bin.
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = index == b
        count = int(members.sum())
        bins.append(
            ReliabilityBin(
                lower=float(edges[b]),
                upper=float(edges[b + 1]),
                count=count,
                mean_predicted=float(p[members].mean()) if count else float("nan"),
                fraction_positive=float(y[members].mean()) if count else float("nan"),
            )
        )
    return bins


def expected_calibration_error(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> float:
    bins = reliability_bins(probabilities, labels, n_bins)
    return _ece(bins, sum(b.count for b in bins))


def brier_score(probabilities: ArrayLike, labels: ArrayLike) -> float:
    p, y = _as_arrays(probabilities, labels)
    return float(np.mean((p - y) ** 2))


def calibration_report(probabilities: ArrayLike, labels: ArrayLike, n_bins: int = 10) -> CalibrationReport:
    """Accuracy, Brier, ECE and the reliability bins in one go."""
    p, y = _as_arrays(probabilities, labels)
    bins = reliability_bins(p, y, n_bins)
    n = len(p)
    return CalibrationReport(
        n=n,
        accuracy=float(np.mean((p >= 0.5) == (y == 1))),
        brier=brier_score(p, y),
        ece=_ece(bins, n),
        bins=bins,
        base_rate=float(y.mean()),
    )


def _ece(bins: list[ReliabilityBin], n: int) -> float:
    return float(sum(b.count / n * abs(b.mean_predicted - b.fraction_positive) for b in bins if b.count))


def _as_arrays(probabilities: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(labels, dtype=float)
    if p.shape != y.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(
            f"need equally long, non-empty 1-d probabilities and labels; got {p.shape} and {y.shape}"
        )
    if ((p < 0) | (p > 1)).any():
        raise ValueError("probabilities must lie in [0, 1]")
    return p, y
