"""The router's fallback: each skill's smoothed pass rate, when there is too little data to learn from text.

Laplace smoothing ((passes + 1) / (decisions + 2)) keeps a skill with one rejected draft from
getting p_pass = 0, which the allocator would read as "never give this to the AI". A skill
never seen gets the smoothed pass rate over all skills.

>>> prior = fit_skill_prior([RouterExample("a", 1, "sql"), RouterExample("b", 1, "sql"), RouterExample("c", 0, "ml")])
>>> prior.p_pass("sql"), prior.p_pass("ml"), prior.p_pass("writing")
(0.75, 0.3333333333333333, 0.6)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from coassist.train.router_data import RouterExample


@dataclass(frozen=True)
class SkillPrior:
    """Smoothed pass rate per skill, and over all examples for unseen skills."""

    global_p_pass: float
    per_skill: dict[str, float] = field(default_factory=dict)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Skill -> (passed, decided), to show what each rate rests on."""

    def p_pass(self, skill: str | None) -> float:
        return self.per_skill.get(skill, self.global_p_pass) if skill is not None else self.global_p_pass


def fit_skill_prior(examples: Sequence[RouterExample]) -> SkillPrior:
    passed = sum(e.label for e in examples)
    counts: dict[str, tuple[int, int]] = {}
    for e in examples:
        if e.skill is not None:
            p, n = counts.get(e.skill, (0, 0))
            counts[e.skill] = (p + e.label, n + 1)
    return SkillPrior(
        global_p_pass=(passed + 1) / (len(examples) + 2),
        per_skill={skill: (p + 1) / (n + 2) for skill, (p, n) in counts.items()},
        counts=counts,
    )
