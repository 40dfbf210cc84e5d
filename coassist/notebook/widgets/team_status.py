"""The team's status in a notebook, kept current: `coassist status` as a widget.

    from coassist.notebook.widgets.team_status import TeamStatusWidget
    TeamStatusWidget("postgresql+psycopg://team@db/coassist")   # or a ReviewStore

It shows what `coassist.agent.status.team_status` reads (subtasks by state, the review queue,
agents and their heartbeats, the forecast finish, warnings, the latest re-plan) and reads it
again every `refresh_seconds` on a daemon thread, so a lead watches agents draft and re-plan
without re-running a cell. `close()` stops the thread and removes the view. When the store is
closed, the widget stops refreshing and keeps showing the last status it read, with one line
saying when that was (a notebook that closes its store at the end still shows where the plan
ended; `refresh()` first makes that the status at the end). A failed read is a line under the last status, which stays. Every name and title is
escaped: they come from task tables and people.
"""

from __future__ import annotations

import html
import threading
from datetime import datetime

import ipywidgets as widgets
from sqlalchemy.exc import SQLAlchemyError

from coassist.agent.status import TeamStatus, age, behind_text, team_status
from coassist.errors import CoassistError, InvalidOption
from coassist.notebook.widgets._status import status_html
from coassist.notebook.widgets._store_watch import StoreWatch, closed_line, failure_line
from coassist.review import ReviewStore, open_store

STOP_WAIT_SECONDS = 10.0
"""How long `close()` waits for a read in flight before leaving the daemon thread to end alone."""


class TeamStatusWidget(widgets.VBox):
    """Where plan `plan_id` (default: the newest plan) stands, re-read every `refresh_seconds`.

    `store_or_url` is an open `ReviewStore` (left open on `close()`) or a database URL, which the
    widget opens and closes itself.
    """

    def __init__(
        self, store_or_url: ReviewStore | str, plan_id: int | None = None, refresh_seconds: float = 3.0
    ) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: StoreWatch | None = None
        self._read_at = datetime.now()
        self._owns_store = False  # until it opens one: close() runs even when __init__ raised
        if not refresh_seconds > 0:
            raise InvalidOption(
                "refresh_seconds", f"must be a positive number of seconds, got {refresh_seconds!r}"
            )
        self.store = open_store(store_or_url) if isinstance(store_or_url, str) else store_or_url
        self._owns_store = isinstance(store_or_url, str)
        self.plan_id = plan_id
        self.refresh_seconds = refresh_seconds
        self.view = widgets.HTML()
        self.notice = widgets.HTML()
        super().__init__([self.view, self.notice])
        self.add_class("coassist-team-status")
        self.refresh()
        self._watch = StoreWatch(self.store, self._store_closed)
        self._thread = threading.Thread(target=self._poll, name="coassist-team-status", daemon=True)
        self._thread.start()

    @property
    def polling(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> TeamStatus | None:
        """Read the status now and show it. A plan the store lacks is shown instead; a database
        failure is said on the line below, under the last status read, which stays."""
        try:
            status = team_status(self.store, self.plan_id)
        except CoassistError as error:
            self.view.value = status_html(str(error), "error")
            return None
        except SQLAlchemyError as error:  # a locked or unreachable database: say so, try again later
            if not self._stop.is_set():
                self.notice.value = status_html(failure_line(error, "retrying"), "warn")
            return None
        self.view.value = team_html(status)
        self.notice.value = ""
        self._read_at = datetime.now()
        return status

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    def _store_closed(self, at: datetime) -> None:
        self._stop.set()
        last = f"this status, read at {self._read_at:%H:%M:%S}, is the last"
        self.notice.value = status_html(closed_line(last, at), "info")

    def close(self) -> None:
        """Stop refreshing and close the view (and the store, when the widget opened it)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(STOP_WAIT_SECONDS)
        for child in self.children:
            child.close()
        super().close()
        if self._owns_store:
            self.store.close()


def team_html(status: TeamStatus) -> str:
    """The status as HTML in which every name, title and sentence from the store is escaped."""
    e = html.escape
    f = status.forecast
    plan = status.plan
    counts = ", ".join(f"{e(state.replace('_', ' '))} <b>{n}</b>" for state, n in status.counts.items())
    queue = ", ".join(f"{e(r)} <b>{n}</b>" for r, n in status.review_queue.items()) or "no drafts waiting"
    agents = "".join(
        f"<li>{e(a.worker)}: {e(a.liveness)}, heartbeat {age(a.heartbeat_seconds)} ago, "
        f"{a.drafted} drafted <small>({e(a.model)})</small></li>"
        for a in status.agents
    )
    parts = [
        f"<b>{e(plan.label)}</b> <small>plan {plan.id} · version {plan.version}</small>",
        f"<div>{status.total} subtasks: {counts}</div>",
        f"<div>Review queue: {queue}</div>",
        f"<div>Agents:</div><ul>{agents}</ul>" if agents else "<div>Agents: none has run for this plan</div>",
        f"<div>Forecast finish: hour {f.finish_hour:.1f} ({f.finish_at:%Y-%m-%d %H:%M} UTC), "
        f"planned {f.planned_makespan:.1f} h: <b>{behind_text(f.behind_hours)}</b></div>",
    ]
    if f.critical_path:
        parts.append(f"<div>Critical path: {e(' → '.join(f.critical_path))}</div>")
    parts += [f"<div>{status_html(w, 'warn')}</div>" for w in status.warnings]
    change = status.latest_change
    if change is None:
        parts.append("<div><i>Not re-planned since it was imported.</i></div>")
    else:
        parts.append(
            f"<div>Re-plan to version {change.version} ({change.at:%Y-%m-%d %H:%M} UTC, by {e(change.actor)}: "
            f"{e(change.reason)})<br>{e(change.summary)}</div>"
        )
        if change.diff.why_not is not None:
            parts.append(f"<div style='white-space: pre-wrap'>Why not: {e(change.diff.why_not)}</div>")
    return "".join(parts)
