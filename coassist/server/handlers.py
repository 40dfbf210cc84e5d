"""REST handlers of the server extension: JSON in, JSON out, authenticated like Jupyter's own.

`APIHandler` refuses requests without a valid token or login cookie (403) and checks XSRF on
cookie-authenticated writes, so the labextension's `ServerConnection` requests work and nothing
else does.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from coassist.errors import DraftAlreadyDecided, NotInStore, ReviewConflict
from coassist.review import QueueItem, ReviewStore, decide, review_queue
from coassist.server.completion import CompletionService
from coassist.server.plan_summary import current_plan_summary


class _CoassistHandler(APIHandler):
    """Shared plumbing: the services the extension put in the tornado settings, JSON bodies."""

    @property
    def completions(self) -> CompletionService:
        return self.settings["coassist_completions"]

    @property
    def store(self) -> ReviewStore:
        return self.settings["coassist_store"]()

    def json_body(self) -> dict[str, Any]:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "the request body must be a JSON object")
        return body

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))


class CompleteHandler(_CoassistHandler):
    """POST /coassist/complete ``{"prefix", "suffix", "path"}`` → ``{"text", "model", "cancelled"}``."""

    _stop: threading.Event | None = None

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        prefix, suffix = body.get("prefix"), body.get("suffix", "")
        if not isinstance(prefix, str) or not isinstance(suffix, str):
            raise tornado.web.HTTPError(400, "'prefix' (and 'suffix', if given) must be strings")
        self._stop = threading.Event()
        completion = await self.completions.complete(prefix, suffix, self._stop)
        connection: Any = self.request.connection  # an HTTP1Connection while the request lives
        if not connection.stream.closed():
            self.reply(asdict(completion))

    def on_connection_close(self) -> None:
        # The front end aborts a request the user has typed past: stop generating for it.
        if self._stop is not None:
            self._stop.set()


class PlanHandler(_CoassistHandler):
    """GET /coassist/plan → the newest plan in the review store, summarised."""

    @tornado.web.authenticated
    def get(self) -> None:
        self.reply(current_plan_summary(self.store))


class ReviewsHandler(_CoassistHandler):
    """GET /coassist/reviews → pending drafts; POST a decision → the decided draft, or 409."""

    @tornado.web.authenticated
    def get(self) -> None:
        status = self.get_query_argument("status", "pending")
        if status != "pending":
            raise tornado.web.HTTPError(400, f"only status=pending is listed, not {status!r}")
        reviewer = self.get_query_argument("reviewer", None)
        self.reply(
            {"reviews": [queue_item_json(item) for item in review_queue(self.store, reviewer=reviewer)]}
        )

    @tornado.web.authenticated
    def post(self) -> None:
        body = self.json_body()
        try:
            draft_id = int(body["id"])
            action, reviewer = str(body["action"]), str(body["reviewer"])
        except (KeyError, TypeError, ValueError):
            raise tornado.web.HTTPError(400, "a decision needs 'id' (int), 'action' and 'reviewer'") from None
        version = body.get("version")
        try:
            result = decide(
                self.store,
                draft_id,
                reviewer,
                action,
                edited_text=body.get("text") if action == "edit" else None,
                expected_version=int(version) if version is not None else None,
                note=str(body.get("note", "")),
            )
        except DraftAlreadyDecided as error:
            self.reply(
                {
                    "message": str(error),
                    "current": {
                        "id": error.draft_id,
                        "subtask": error.subtask,
                        "status": error.decision,
                        "decided_by": error.decided_by,
                    },
                },
                status=409,
            )
            return
        except ReviewConflict as error:
            self.reply({"message": str(error), "current": None}, status=409)
            return
        except NotInStore as error:
            raise tornado.web.HTTPError(404, str(error)) from None
        except ValueError as error:
            raise tornado.web.HTTPError(400, str(error)) from None
        self.reply(
            {
                "id": result.draft_id,
                "subtask": result.subtask,
                "status": result.decision.status,
                "version": result.version,
                "decided_by": result.reviewer,
                "decided_at": result.decided_at.isoformat(),
                "work_item_id": result.work_item_id,
            }
        )


def queue_item_json(item: QueueItem) -> dict[str, Any]:
    """A pending draft as the sidebar's `IReviewItem`."""
    return {
        "id": item.draft_id,
        "version": item.version,
        "status": "pending",
        "subtask": item.subtask,
        "title": item.title,
        "text": item.text,
        "model": item.model_spec,
        "p_pass": item.p_pass,
        "plan": f"plan {item.plan_id}",
        "reviewer": item.reviewer,
        "decided_by": None,
        "created_at": item.created_at.isoformat(),
    }


def setup_handlers(web_app: tornado.web.Application) -> None:
    base = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "coassist", "complete"), CompleteHandler),
            (url_path_join(base, "coassist", "plan"), PlanHandler),
            (url_path_join(base, "coassist", "reviews"), ReviewsHandler),
        ],
    )
