"""The prompt for drafting one subtask: what it is, and the results it builds on.

The exact messages are stored with each draft, and the SFT export trains on them: a model
fine-tuned on approved drafts sees the same prompt shape it will be asked with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coassist.llm.chat import Message


@dataclass(frozen=True)
class DependencyResult:
    """A finished subtask the drafted one depends on, with its approved (or submitted) result."""

    key: str
    title: str
    output: str


def draft_messages(
    title: str, description: str, skill: str, dependencies: Sequence[DependencyResult], dependency_chars: int
) -> list[Message]:
    """One user turn asking for the subtask's complete result.

    Each dependency's result is cut to `dependency_chars` characters (keeping its start) so that
    a long upstream report cannot push the prompt past a small model's context window.

    >>> draft_messages("Sum", "Add the columns", "python", [], 100)[0]["content"].splitlines()[2]
    'Subtask: Sum'
    """
    parts = [
        "You are doing one subtask of a team project. A person will review your result.",
        "",
        f"Subtask: {title}",
        f"Skill: {skill}",
    ]
    if description:
        parts += ["", description]
    if dependencies:
        parts += ["", "It builds on these finished subtasks:"]
        for dependency in dependencies:
            output = dependency.output
            if len(output) > dependency_chars:
                output = output[:dependency_chars] + " [...]"
            parts += ["", f"### {dependency.title} ({dependency.key})", output]
    parts += ["", "Write the complete result of this subtask."]
    return [{"role": "user", "content": "\n".join(parts)}]
