"""REST handlers of the server extension: JSON in, JSON out, authenticated and authorised like Jupyter's own.

- **Authentication**: `APIHandler` + `@tornado.web.authenticated` refuse requests without a valid
  token or login cookie (403) and check XSRF on cookie-authenticated writes, so the
  labextension's `ServerConnection` requests work and nothing else does.
- **Authorisation**: `@authorized` asks the server's Authorizer (`ServerApp.authorizer_class`)
  about the resource ``"coassist"``: reading the queue or the plan is ``read``, a decision is
  ``write``, a completion is ``execute`` (it runs the model). A refusal is 403.
- **Identity**: a decision is recorded under ``CoassistServer.reviewer_name`` when set, else the
  signed-in user's ``username`` (JupyterHub's user name). Not ``name``: users may change their
  display name through ``PATCH /api/me``. A token-only JupyterLab signs every browser in as an
  anonymous random id, which names nobody: there the decision carries ``reviewer``, the name
  the person gave the sidebar (whoever holds the token owns the server, so their word is the
  setting's). Elsewhere a body ``reviewer`` is checked and ignored. The queue's ``decided_as``
  and the reply's ``decided_by`` say who is recorded.
- **Database**: each request reads the database the current notebook showed in the sidebar
  (``?kernel=ID``, see `coassist.server.sidebar_link`), else the server's own, and says which.
- **Input**: bodies and queries are checked by `coassist.server.requests` before anything is read
  or stored; a refused request is a 400 naming the field, and stores nothing.
- **Blocking work** runs off the event loop: store calls on `StoreAccess` threads, model loading
  and generation on the completion thread. A decision waiting for another process's SQLite write
  lock therefore leaves Jupyter responsive; it is stored when the lock is released, or, past
  SQLite's busy timeout (30 s), answered 503 "the review database is busy; try again".
- **Errors**: every error reply is ``{"message": ...}`` (a 409 adds ``current``) with the status
  that fits, never a traceback; unexpected failures are a 500 whose details go to the server log.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Awaitable, Callable
from functools import wraps
from http.client import responses
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from sqlalchemy.exc import OperationalError

from coassist.agent.status import TeamStatus, team_status
from coassist.errors import (
    CompletionModelUnavailable,
    DraftAlreadyDecided,
    EndpointError,
    InvalidRequest,
    LinkedDatabaseGone,
    NotInStore,
    PromptTooLong,
    ReviewConflict,
    SchemaTooNew,
)
from coassist.review import QueueItem, ReviewStore, decide, review_queue
from coassist.server.completion import CompletionService
from coassist.server.plan_summary import current_plan, newest_plan_id, plan_names
from coassist.server.replies import (
    completion_json,
    conflict_json,
    decision_json,
    error_json,
    plan_json,
    review_list_json,
    team_json,
)
from coassist.server.requests import (
    parse_completion,
    parse_decision,
    parse_kernel_query,
    parse_plan_query,
    parse_queue_query,
)
from coassist.server.sidebar_link import is_missing_file, linked_url
from coassist.server.store_access import Database, LinkedStores, StoreAccess, shown_url

AUTH_RESOURCE = "coassist"
STORE_BUSY_MESSAGE = "the review database is busy; try again"
STORE_BUSY_RETRY_S = 5
UNEXPECTED_MESSAGE = "coassist hit an unexpected error; the Jupyter server log has the details"
ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")
"""The username jupyter_server gives each browser of a token-only server (a uuid4 in hex, with
the display name "Anonymous <moon>"): an id, not a person."""
NAME_NEEDED_MESSAGE = (
    "this JupyterLab cannot tell who you are (its users sign in with a token only), so a decision "
    "must say 'reviewer': enter your name when the sidebar asks (Settings > coassist > Reviewer "
    "name), or set c.CoassistServer.reviewer_name"
)


class Refusal(tornado.web.HTTPError):
    """An error reply: `status` with `body` (by default ``{"message": message}``) and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        # "%s" keeps a message holding "%" intact through tornado's log formatting.
        super().__init__(status, "%s", message)
        self.message = message
        self.headers = headers or {}
        self.body = error_json(message) if body is None else body


def json_text(data: Any) -> str:
    """JSON with <, > and & escaped (as \\u003c...): names and model output stay inert text even
    for a client or proxy that sniffs the body as HTML. The decoded values are unchanged."""
    text = json.dumps(data, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def refusals(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """The errors a request can cause, as replies: bad input 400, unknown draft 404, store
    unavailable 503. Anything else stays a 500 with a generic message (and a logged traceback)."""

    @wraps(method)
    async def answer(self: CoassistHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except InvalidRequest as error:
            raise Refusal(400, str(error)) from None
        except NotInStore as error:
            raise Refusal(404, str(error)) from None
        except LinkedDatabaseGone as error:
            raise Refusal(410, str(error)) from None
        except SchemaTooNew as error:
            raise Refusal(503, str(error)) from None
        except OperationalError as error:
            self.log.warning("coassist: the review database failed: %s", error.orig)
            driver_message = str(error.orig).splitlines()[0] if str(error.orig) else "unknown error"
            if "locked" in driver_message or "busy" in driver_message:
                raise Refusal(503, STORE_BUSY_MESSAGE, {"Retry-After": str(STORE_BUSY_RETRY_S)}) from None
            raise Refusal(
                503, f"the review database is unavailable ({driver_message}); try again later"
            ) from None

    return answer


class CoassistHandler(APIHandler):
    """Shared plumbing: the services the extension put in the tornado settings, JSON replies."""

    auth_resource = AUTH_RESOURCE

    @property
    def completions(self) -> CompletionService:
        return self.settings["coassist_completions"]

    @property
    def store_access(self) -> StoreAccess:
        return self.settings["coassist_store"]

    def database(self) -> Database:
        """The database this request reads: the one the ``kernel`` query's notebook showed with
        `show_in_sidebar` (a kernel this server runs), else the server's own."""
        kernel_id = parse_kernel_query(self.get_query_argument("kernel", None))
        url = None
        if kernel_id is not None and kernel_id in self.kernel_manager:
            url = linked_url(Path(self.kernel_manager.get_kernel(kernel_id).connection_file))
        if url is None:
            return Database(self.store_access, self.settings["coassist_db_url"], "server")
        linked: LinkedStores = self.settings["coassist_linked_stores"]
        if is_missing_file(url):  # opening it would create an empty file in its place
            linked.forget(url)
            return Database(None, shown_url(url), "notebook")
        return Database(linked.get(url), shown_url(url), "notebook")

    def known_reviewer(self) -> str | None:
        """Whom decisions are recorded under without asking: `CoassistServer.reviewer_name`, else
        the signed-in user; None when the user is an anonymous id (a token-only JupyterLab)."""
        configured = self.settings.get("coassist_reviewer_name")
        if configured:
            return configured
        user = self.current_user
        username = getattr(user, "username", None)
        if not isinstance(username, str) or not username.strip():
            return None
        anonymous = ANONYMOUS_ID.fullmatch(username) and str(getattr(user, "name", "")).startswith("Anonymous ")
        return None if anonymous else username

    def decision_reviewer(self, claimed: str | None) -> str:
        """Who a decision is recorded under: the known reviewer, else the name the body gave."""
        known = self.known_reviewer()
        if known is None:
            if claimed is None or not claimed.strip():
                raise Refusal(400, NAME_NEEDED_MESSAGE)
            return claimed.strip()
        if claimed is not None and claimed.strip() != known:
            self.log.info("coassist: decision recorded as %r, not %r as the body said", known, claimed)
        return known

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json_text(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as ``{"message": ...}``, never a traceback (jupyter_server's own API errors
        carry a "traceback" field and, for anything but HTTPError, only "Unhandled error")."""
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, Refusal):
            for name, value in error.headers.items():
                self.set_header(name, value)
            self.finish(json_text(error.body))
        else:
            self.finish(json_text(error_json(error_message(error, status_code))))


def error_message(error: BaseException | None, status_code: int) -> str:
    """The sentence an error reply carries for anything but a `Refusal`: tornado's own message
    (405, 404), else the status's name, else (a 5xx) a pointer to the server log."""
    if isinstance(error, tornado.web.HTTPError) and error.log_message:
        try:
            return error.log_message % error.args if error.args else error.log_message
        except (TypeError, ValueError):
            return error.log_message
    if status_code < 500:
        return responses.get(status_code, "the request was refused")
    return UNEXPECTED_MESSAGE


class CompleteHandler(CoassistHandler):
    """POST /coassist/complete ``{"prefix", "suffix", "path"}`` → ``{"text", "model", "cancelled"}``.

    503 while the model cannot load (remembered for `CoassistServer.model_retry_seconds`, with a
    Retry-After header), 413 when the cell before the cursor is over the model's context, 502
    when an endpoint model fails.
    """

    _stop: threading.Event | None = None

    @tornado.web.authenticated
    @authorized("execute")
    @refusals
    async def post(self) -> None:
        request = parse_completion(self.request.body)
        self._stop = threading.Event()
        try:
            completion = await self.completions.complete(request.prefix, self._stop)
        except CompletionModelUnavailable as error:
            if error.__cause__ is not None:  # this request tried the load: log why, once per attempt
                self.log.warning("coassist: %s", error, exc_info=error.__cause__)
            retry = str(max(1, math.ceil(error.retry_after_s)))
            raise Refusal(503, str(error), {"Retry-After": retry}) from None
        except PromptTooLong as error:
            raise Refusal(
                413,
                f"the cell before the cursor is {error.prompt_tokens} tokens and the completion may take "
                f"{error.max_new_tokens}, but the completion model's context holds {error.context_length} "
                f"tokens; lower CoassistServer.completion_context_chars (now "
                f"{self.completions.context_chars} characters) for this model",
            ) from None
        except EndpointError as error:
            raise Refusal(502, f"the completion endpoint failed: {error}") from None
        connection: Any = self.request.connection  # an HTTP1Connection while the request lives
        if not connection.stream.closed():
            self.reply(completion_json(completion))

    def on_connection_close(self) -> None:
        # The front end aborts a request the user has typed past: stop generating for it.
        if self._stop is not None:
            self._stop.set()


class PlanHandler(CoassistHandler):
    """GET /coassist/plan → the newest plan in the request's database, summarised."""

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        database = self.database()
        summary = None if database.access is None else await database.access.run(current_plan)
        self.reply(plan_json(summary, database))


class ReviewsHandler(CoassistHandler):
    """GET /coassist/reviews → pending drafts; POST a decision → the decided draft, or 409."""

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        reviewer = parse_queue_query(
            self.get_query_argument("status", "pending"), self.get_query_argument("reviewer", None)
        )
        database = self.database()
        items, names = (
            ([], {})
            if database.access is None
            else await database.access.run(lambda store: pending_reviews(store, reviewer))
        )
        self.reply(review_list_json(items, names, database, self.known_reviewer()))

    @tornado.web.authenticated
    @authorized
    @refusals
    async def post(self) -> None:
        request = parse_decision(self.request.body)
        reviewer = self.decision_reviewer(request.reviewer)
        database = self.database()
        if request.database is not None and request.database != database.url:
            message = (
                f"this draft was listed from {request.database}, but the sidebar reads {database.url} "
                "now; your decision was not stored. Refresh the queue and decide again."
            )
            raise Refusal(409, message, body=conflict_json(message, None))
        try:
            result = await database.store().run(
                lambda store: decide(
                    store,
                    request.draft_id,
                    reviewer,
                    request.action,
                    edited_text=request.text,
                    expected_version=request.version,
                    note=request.note,
                )
            )
        except ReviewConflict as error:
            winner = error if isinstance(error, DraftAlreadyDecided) else None
            raise Refusal(409, str(error), body=conflict_json(str(error), winner)) from None
        except ValueError as error:  # decide's own checks: an edit without text, text unchanged
            raise Refusal(400, str(error)) from None
        self.reply(decision_json(result))


class TeamHandler(CoassistHandler):
    """GET /coassist/team[?plan=ID] → where the plan (default: the newest) stands: counts by state,
    review queue, agents, forecast, warnings and the latest re-plan (`TeamView`); a database
    without plans is a 200 `TeamUnavailable` (an empty state, not an error), an unknown plan id 404."""

    @tornado.web.authenticated
    @authorized
    @refusals
    async def get(self) -> None:
        plan_id = parse_plan_query(self.get_query_argument("plan", None))
        database = self.database()
        status = (
            None if database.access is None else await database.access.run(lambda store: plan_status(store, plan_id))
        )
        self.reply(team_json(status, database))


def plan_status(store: ReviewStore, plan_id: int | None) -> TeamStatus | None:
    """Plan `plan_id`'s status (default: the newest plan's); None when no plan was named and the
    store holds none."""
    if plan_id is None and newest_plan_id(store) is None:
        return None
    return team_status(store, plan_id)


def pending_reviews(store: ReviewStore, reviewer: str | None) -> tuple[list[QueueItem], dict[int, str]]:
    """The review queue (least confident first) and the names of the plans its drafts belong to."""
    items = review_queue(store, reviewer=reviewer)
    return items, plan_names(store, {item.plan_id for item in items})


def setup_handlers(web_app: tornado.web.Application) -> None:
    base = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "coassist", "complete"), CompleteHandler),
            (url_path_join(base, "coassist", "plan"), PlanHandler),
            (url_path_join(base, "coassist", "reviews"), ReviewsHandler),
            (url_path_join(base, "coassist", "team"), TeamHandler),
        ],
    )
